//! Authentication and authorization over the real wire: the runtime's gate in front of the
//! registry, with the test's own key pair.

mod common;

use common::Harness;
use flywheel_proto::flywheel::registry::v1::registry_service_client::RegistryServiceClient;
use flywheel_proto::flywheel::registry::v1::*;
use flywheel_testing::{Role, TestAuth};
use tonic::Code;
use tonic::metadata::AsciiMetadataValue;

fn list() -> ListRegionsRequest {
    ListRegionsRequest::default()
}

async fn code_with(h: &Harness, authorization: Option<AsciiMetadataValue>) -> Code {
    let mut client = RegistryServiceClient::new(h.service.channel().await);
    let mut request = tonic::Request::new(list());
    if let Some(value) = authorization {
        request.metadata_mut().insert("authorization", value);
    }
    match client.list_regions(request).await {
        Ok(_) => Code::Ok,
        Err(status) => status.code(),
    }
}

async fn code_with_token(h: &Harness, token: &str) -> Code {
    code_with(h, Some(format!("Bearer {token}").parse().unwrap())).await
}

#[tokio::test]
async fn calls_without_a_valid_token_are_unauthenticated() {
    let h = Harness::start().await;
    let auth = &h.service.auth;
    assert_eq!(code_with_token(&h, &auth.token(Role::Resident, "r1")).await, Code::Ok);
    assert_eq!(code_with(&h, None).await, Code::Unauthenticated, "no token");

    for malformed in ["Basic dXNlcjpwdw==", "Bearer", "Bearer ", "bearer not.a.jwt", "token"] {
        assert_eq!(code_with(&h, Some(malformed.parse().unwrap())).await, Code::Unauthenticated, "{malformed}");
    }
    let not_utf8 = AsciiMetadataValue::try_from(b"Bearer \xff\xfe".as_slice()).unwrap();
    assert_eq!(code_with(&h, Some(not_utf8)).await, Code::Unauthenticated, "metadata that is not UTF-8");

    let signed = |change: &dyn Fn(&mut flywheel_runtime::auth::Claims)| {
        let mut claims = auth.claims(Role::Resident, "r1");
        change(&mut claims);
        auth.sign(&claims)
    };
    let cases = [
        ("expired", signed(&|c| c.exp = c.iat - 600)),
        ("wrong audience", signed(&|c| c.aud = "another-system".into())),
        ("wrong issuer", signed(&|c| c.iss = "someone-else".into())),
        ("no role", signed(&|c| c.roles.clear())),
        ("crew member without a crew", signed(&|c| c.roles = vec![Role::CrewMember])),
        ("foreign key", TestAuth::new().token(Role::Admin, "intruder")),
    ];
    for (case, token) in cases {
        assert_eq!(code_with_token(&h, &token).await, Code::Unauthenticated, "{case}");
    }
}

#[tokio::test]
async fn roles_decide_which_methods_a_caller_may_use() {
    let h = Harness::start().await;
    let create = |code: &str| CreateRegionRequest {
        region: Some(Region { code: code.into(), name: "Guangzhou".into(), kind: RegionKind::City as i32, ..Default::default() }),
        request_id: String::new(),
    };
    for role in [Role::Resident, Role::Dispatcher, Role::CrewMember, Role::Analyst, Role::Service] {
        let err = h.client_as(role, "someone").await.create_region(create("gz")).await.unwrap_err();
        assert_eq!(err.code(), Code::PermissionDenied, "{role}");
        // Every authenticated role reads the registry.
        h.client_as(role, "someone").await.list_regions(list()).await.unwrap();
    }
    h.client_as(Role::Admin, "root").await.create_region(create("gz")).await.unwrap();
    h.client.clone().create_region(create("sz")).await.unwrap();
}

#[tokio::test]
async fn a_caller_over_the_rate_limit_is_told_to_slow_down() {
    let h = Harness::start_with(&[("GRPC_RATE_LIMIT_PER_SECOND", "1"), ("GRPC_RATE_LIMIT_BURST", "3")]).await;
    let mut busy = h.client_as(Role::Analyst, "busy").await;
    busy.list_regions(list()).await.unwrap();
    // Ten calls in a row outrun a burst of three refilled at one a second.
    let mut refused = Vec::new();
    for _ in 0..10 {
        if let Err(status) = busy.list_regions(list()).await {
            refused.push(status.code());
        }
    }
    assert!(!refused.is_empty() && refused.iter().all(|c| *c == Code::ResourceExhausted), "{refused:?}");
    // The limit is per caller: someone else is not slowed down.
    h.client_as(Role::Analyst, "calm").await.list_regions(list()).await.unwrap();
}

/// tonic refuses a request message over the limit while decoding it, with OUT_OF_RANGE.
#[tokio::test]
async fn an_oversized_message_is_refused() {
    let h = Harness::start_with(&[("GRPC_MAX_MESSAGE_BYTES", "2048")]).await;
    let request = CreateRegionRequest {
        region: Some(Region { code: "big".into(), name: "x".repeat(4096), kind: RegionKind::City as i32, ..Default::default() }),
        request_id: String::new(),
    };
    let err = h.client.clone().create_region(request).await.unwrap_err();
    assert_eq!(err.code(), Code::OutOfRange, "{err:?}");
    h.client.clone().list_regions(list()).await.unwrap();
}

#[tokio::test]
async fn a_service_without_its_key_set_does_not_start() {
    let nats = flywheel_testing::NatsServer::start().await;
    let db = flywheel_testing::TestDatabase::new();
    let auth = TestAuth::new();
    let missing = auth.jwks_path().with_file_name("missing.json");
    let config = flywheel_testing::config_with(
        flywheel_registry::SERVICE,
        &db.url(),
        &nats.url(),
        &auth,
        &[("AUTH_JWKS_FILE", missing.to_str().unwrap())],
    );
    let err = flywheel_registry::build(config).await.err().expect("no key set, no service");
    assert!(err.to_string().contains("AUTH_JWKS_FILE"), "{err:#}");
}
