//! gRPC over TLS and mutual TLS: a real server on 127.0.0.1:0 with certificates made here.

use flywheel_runtime::config::{Config, ServiceInfo};
use flywheel_testing::TestAuth;
use flywheel_runtime::grpc::tls::{ClientTls, ServerTls};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

const SERVICE: ServiceInfo = ServiceInfo { name: "tls-test", default_grpc_port: 0, default_http_port: 0 };

/// A certificate authority made for one test.
struct Ca {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

/// A certificate and its private key, PEM.
struct Leaf {
    cert: String,
    key: String,
}

impl Ca {
    fn new(name: &str) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        Self { issuer: CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap() }
    }

    fn pem(&self) -> String {
        self.issuer.pem()
    }

    /// A certificate for `names` (DNS names or IP addresses), usable by servers and clients.
    fn issue(&self, common_name: &str, names: &[&str]) -> Leaf {
        let mut params = CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap();
        params.distinguished_name.push(DnType::CommonName, common_name);
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        Leaf { cert: cert.pem(), key: key.serialize_pem() }
    }
}

/// Serves the standard health service with `tls` until the returned sender is dropped.
async fn serve(tls: ServerTls) -> (SocketAddr, tokio::sync::oneshot::Sender<()>) {
    let keys = TestAuth::new();
    let mut config = flywheel_testing::config(SERVICE, "sqlite::memory:", "nats://127.0.0.1:4222", &keys);
    config.grpc_tls = Some(tls);
    flywheel_testing::serve_health(config).await
}

/// Connects through `endpoint` and asks for the server's health.
async fn health(endpoint: tonic::transport::Endpoint) -> Result<ServingStatus, String> {
    let channel = endpoint
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(5))
        .connect()
        .await
        .map_err(|e| format!("connect: {e:?}"))?;
    let response = HealthClient::new(channel)
        .check(HealthCheckRequest { service: String::new() })
        .await
        .map_err(|e| format!("call: {e:?}"))?;
    Ok(response.into_inner().status())
}

fn plaintext(addr: SocketAddr) -> tonic::transport::Endpoint {
    tonic::transport::Endpoint::from_shared(format!("http://{addr}")).unwrap()
}

#[tokio::test]
async fn a_client_trusting_the_ca_is_served_and_a_plaintext_client_is_not() {
    let ca = Ca::new("flywheel test CA");
    let server = ca.issue("registry", &["localhost", "127.0.0.1"]);
    let (addr, _stop) = serve(ServerTls::new(&server.cert, &server.key)).await;

    let trusting = ClientTls::new(ca.pem());
    assert_eq!(health(trusting.endpoint(&addr.to_string()).unwrap()).await, Ok(ServingStatus::Serving));
    // The certificate names localhost too.
    let by_name = format!("localhost:{}", addr.port());
    assert_eq!(health(trusting.endpoint(&by_name).unwrap()).await, Ok(ServingStatus::Serving));

    assert!(health(plaintext(addr)).await.is_err(), "a plaintext client must not be served");
    let stranger = ClientTls::new(Ca::new("another CA").pem());
    assert!(health(stranger.endpoint(&addr.to_string()).unwrap()).await.is_err(), "a client must not trust another CA's server");
}

#[tokio::test]
async fn mutual_tls_refuses_clients_without_a_certificate_from_the_ca() {
    let ca = Ca::new("flywheel test CA");
    let server = ca.issue("dispatch", &["localhost", "127.0.0.1"]);
    let tls = ServerTls::new(&server.cert, &server.key).require_client_certificates(ca.pem());
    assert!(tls.is_mutual());
    let (addr, _stop) = serve(tls).await;
    let authority = addr.to_string();

    let anonymous = ClientTls::new(ca.pem());
    assert!(health(anonymous.endpoint(&authority).unwrap()).await.is_err(), "a client without a certificate must be refused");

    let other_ca = Ca::new("another CA");
    let forged = other_ca.issue("tools", &["tools"]);
    let forged_client = ClientTls::new(ca.pem()).with_identity(&forged.cert, &forged.key);
    assert!(health(forged_client.endpoint(&authority).unwrap()).await.is_err(), "a certificate from another CA must be refused");

    let client = ca.issue("tools", &["tools"]);
    let signed = ClientTls::new(ca.pem()).with_identity(&client.cert, &client.key);
    assert_eq!(health(signed.endpoint(&authority).unwrap()).await, Ok(ServingStatus::Serving));
}

#[tokio::test]
async fn tls_settings_are_read_from_the_files_the_environment_names() {
    let ca = Ca::new("flywheel test CA");
    let server = ca.issue("feedback", &["localhost", "127.0.0.1"]);
    let client = ca.issue("tools", &["tools"]);
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    };
    let keys = TestAuth::new();
    let vars = [
        ("AUTH_JWKS_FILE", keys.jwks_path().display().to_string()),
        ("GRPC_TLS_CERT_FILE", write("server.crt", &server.cert)),
        ("GRPC_TLS_KEY_FILE", write("server.key", &server.key)),
        ("GRPC_TLS_CLIENT_CA_FILE", write("ca.crt", &ca.pem())),
        ("GRPC_TLS_CA_FILE", dir.path().join("ca.crt").display().to_string()),
        ("GRPC_TLS_CLIENT_CERT_FILE", write("client.crt", &client.cert)),
        ("GRPC_TLS_CLIENT_KEY_FILE", write("client.key", &client.key)),
    ];
    let config = Config::from_lookup(SERVICE, |name| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| v.clone())).unwrap();
    let server_tls = config.grpc_tls.clone().expect("TLS is on");
    assert!(server_tls.is_mutual());
    let client_tls = config.grpc_client_tls.clone().expect("the client side is configured");

    let (addr, _stop) = serve(server_tls).await;
    assert_eq!(health(client_tls.endpoint(&addr.to_string()).unwrap()).await, Ok(ServingStatus::Serving));

    // The `healthcheck` command, as the containers run it, with and without the client side.
    let mut probe = config.clone();
    probe.grpc_addr = addr;
    assert_eq!(flywheel_runtime::cli::healthcheck(&probe).await, ExitCode::SUCCESS);
    probe.grpc_client_tls = Some(ClientTls::new(ca.pem()));
    assert_eq!(flywheel_runtime::cli::healthcheck(&probe).await, ExitCode::FAILURE, "no client certificate");
    probe.grpc_client_tls = None;
    assert_eq!(flywheel_runtime::cli::healthcheck(&probe).await, ExitCode::FAILURE, "plaintext");
}
