//! The compose deployment under `deploy/compose.tls.yaml` with certificates from
//! `deploy/tls/make-ca.sh`: the services (and their health checks) speak mutual TLS, a client with
//! the tools certificate and a token is served, plaintext and certificate-less clients are not.

use flywheel_e2e::Stack;
use flywheel_proto::flywheel::registry::v1 as registry;
use flywheel_runtime::grpc::tls::ClientTls;
use flywheel_testing::Bearer;
use std::process::Command;
use std::time::Duration;
use tonic::service::interceptor::InterceptedService;

#[tokio::test(flavor = "multi_thread")]
async fn mutual_tls_serves_only_clients_with_a_certificate() {
    let certs = tempfile::tempdir().unwrap();
    let made = Command::new("bash").arg("deploy/tls/make-ca.sh").arg(certs.path()).current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../..")).output().unwrap();
    assert!(made.status.success(), "make-ca.sh: {}", String::from_utf8_lossy(&made.stderr));
    let dir = certs.path().display().to_string();
    // Healthy means every service's health check passed over mutual TLS.
    let stack = Stack::up_with("tls", &["deploy/compose.tls.yaml"], &[("FLYWHEEL_TLS_DIR", &dir)]);
    let token = stack.token("admin", "e2e-tls");
    let read = |name: &str| std::fs::read(certs.path().join(name)).unwrap();
    let authority = format!("localhost:{}", stack.port("registry"));
    let list = registry::ListRegionsRequest::default();

    let tools = ClientTls::new(read("ca.crt")).with_identity(read("tools.crt"), read("tools.key"));
    let channel = tools.endpoint(&authority).unwrap().connect_timeout(Duration::from_secs(5)).connect().await.unwrap();
    let mut client = registry::registry_service_client::RegistryServiceClient::new(InterceptedService::new(channel, Bearer::new(&token)));
    client.list_regions(list.clone()).await.expect("a client with the tools certificate and a token is served");

    let plain = tonic::transport::Endpoint::from_shared(stack.endpoint("registry")).unwrap().connect_lazy();
    let mut plaintext = registry::registry_service_client::RegistryServiceClient::new(InterceptedService::new(plain, Bearer::new(&token)));
    assert!(plaintext.list_regions(list.clone()).await.is_err(), "plaintext is refused");

    let without_certificate = ClientTls::new(read("ca.crt")).endpoint(&authority).unwrap().connect_timeout(Duration::from_secs(5));
    let refused = match without_certificate.connect().await {
        Err(_) => true,
        Ok(channel) => {
            let mut c = registry::registry_service_client::RegistryServiceClient::new(InterceptedService::new(channel, Bearer::new(&token)));
            c.list_regions(list).await.is_err()
        }
    };
    assert!(refused, "a client without a certificate is refused");
}
