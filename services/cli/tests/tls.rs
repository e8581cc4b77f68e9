//! The certificates of `deploy/tls/make-ca.sh` with a real registry over mutual TLS, called by
//! the `flywheel` CLI.

use flywheel_runtime::auth::Role;
use flywheel_testing::{NatsServer, RunningService, TestAuth, TestDatabase};
use std::path::Path;
use std::process::Command;

fn make_ca(dir: &Path) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/tls/make-ca.sh");
    let output = Command::new("bash").arg(script).arg(dir).output().expect("run make-ca.sh");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
}

/// `flywheel sites list` against `address` with `vars` set (and every TLS variable cleared).
async fn sites_list(address: &str, vars: &[(&str, String)]) -> std::process::Output {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_flywheel"));
    for name in ["GRPC_TLS_CA_FILE", "GRPC_TLS_CLIENT_CERT_FILE", "GRPC_TLS_CLIENT_KEY_FILE", "FLYWHEEL_TOKEN", "FLYWHEEL_SIGNING_KEY"] {
        command.env_remove(name);
    }
    command.args(["sites", "list", "--registry", address]).envs(vars.iter().cloned()).output().await.unwrap()
}

#[tokio::test]
async fn the_cli_reaches_a_mutual_tls_registry_with_the_tools_certificate() {
    let tls = tempfile::tempdir().unwrap();
    make_ca(tls.path());
    let file = |name: &str| tls.path().join(name).display().to_string();

    let nats = NatsServer::start().await;
    let db = TestDatabase::new();
    let auth = TestAuth::new();
    let server_vars = [
        ("GRPC_TLS_CERT_FILE", file("registry.crt")),
        ("GRPC_TLS_KEY_FILE", file("registry.key")),
        ("GRPC_TLS_CLIENT_CA_FILE", file("ca.crt")),
    ];
    let server_vars: Vec<(&str, &str)> = server_vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let config = flywheel_testing::config_with(flywheel_registry::SERVICE, &db.url(), &nats.url(), &auth, &server_vars);
    let registry = RunningService::start(flywheel_registry::build(config).await.unwrap(), &auth);
    let port = registry.grpc_addr.port();

    let token = ("FLYWHEEL_TOKEN", auth.token(Role::Admin, "cli"));
    let ca = ("GRPC_TLS_CA_FILE", file("ca.crt"));
    let tools = [token.clone(), ca.clone(), ("GRPC_TLS_CLIENT_CERT_FILE", file("tools.crt")), ("GRPC_TLS_CLIENT_KEY_FILE", file("tools.key"))];
    for host in ["127.0.0.1", "localhost"] {
        let out = sites_list(&format!("https://{host}:{port}"), &tools).await;
        assert!(out.status.success(), "{host}: {}", String::from_utf8_lossy(&out.stderr));
    }

    let without_certificate = sites_list(&format!("https://127.0.0.1:{port}"), &[token.clone(), ca.clone()]).await;
    assert!(!without_certificate.status.success(), "a client without a certificate must be refused");
    let without_ca = sites_list(&format!("https://127.0.0.1:{port}"), std::slice::from_ref(&token)).await;
    assert!(String::from_utf8_lossy(&without_ca.stderr).contains("GRPC_TLS_CA_FILE"));
    let plaintext = sites_list(&format!("http://127.0.0.1:{port}"), &tools).await;
    assert!(!plaintext.status.success(), "plaintext must be refused");

    registry.stop().await.unwrap();
}
