//! Test support, after nats.rs's own harness: a real `nats-server` per test (random port,
//! temporary JetStream store, killed on drop, ready before it is returned), a fresh database per
//! test, and configuration for a service served on 127.0.0.1:0 that trusts a per-test key pair.

mod auth;

pub use auth::{AuthChannel, Bearer, TestAuth, assert_policy_matrix, assert_rules_cover, contract_methods};
pub use flywheel_runtime::auth::Role;

pub mod hostile;

use flywheel_runtime::config::{Config, ServiceInfo};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tempfile::TempDir;
use tonic::service::interceptor::InterceptedService;

/// A `nats-server` with JetStream, owned by one test.
pub struct NatsServer {
    port: u16,
    store: TempDir,
    /// A configuration file and the monitoring port that tells when the server is ready (its
    /// clients may need credentials this harness does not have).
    configured: Option<(PathBuf, u16)>,
    child: Option<Child>,
}

impl NatsServer {
    /// Starts a server on a free port and waits until JetStream answers.
    pub async fn start() -> Self {
        Self::start_configured(None).await
    }

    /// Starts a server with a configuration file holding `config` (e.g. an `include` of an
    /// `authorization` block; the port and the JetStream store are still this harness's), and
    /// waits until it reports healthy with JetStream.
    pub async fn start_with_config(config: &str) -> Self {
        Self::start_configured(Some(config)).await
    }

    async fn start_configured(config: Option<&str>) -> Self {
        let store = TempDir::new().expect("temporary directory");
        let configured = config.map(|text| {
            let path = store.path().join("nats-server.conf");
            std::fs::write(&path, text).expect("write the nats-server configuration");
            (path, free_port())
        });
        let mut server = Self { port: free_port(), store, configured, child: None };
        server.restart().await;
        server
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Kills the server (SIGKILL); the JetStream store stays for [`restart`](Self::restart).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port and store, and waits until JetStream answers.
    pub async fn restart(&mut self) {
        self.stop();
        let mut command = Command::new(nats_server_binary());
        if let Some((config, monitor_port)) = &self.configured {
            command.arg("-c").arg(config).args(["-m", &monitor_port.to_string()]);
        }
        let child = command
            .args(["-js", "-a", "127.0.0.1", "-p", &self.port.to_string(), "-sd"])
            .arg(self.store.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nats-server must be installed (the README's test command installs it)");
        self.child = Some(child);
        self.wait_ready().await;
    }

    async fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some((_, monitor_port)) = self.configured {
                if jetstream_healthy(monitor_port).await {
                    return;
                }
            } else if let Ok(client) = async_nats::connect(self.url()).await {
                let js = async_nats::jetstream::new(client);
                if js.query_account().await.is_ok() {
                    return;
                }
            }
            assert!(Instant::now() < deadline, "nats-server did not become ready on {}", self.url());
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// A client connected to this server.
    pub async fn client(&self) -> async_nats::Client {
        async_nats::connect(self.url()).await.expect("connect to the test nats-server")
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Whether the server's monitoring endpoint reports it healthy with JetStream.
async fn jetstream_healthy(monitor_port: u16) -> bool {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Ok(mut stream) = tokio::net::TcpStream::connect(("127.0.0.1", monitor_port)).await else {
        return false;
    };
    let request = "GET /healthz?js-enabled-only=true HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
    let mut response = String::new();
    stream.write_all(request.as_bytes()).await.is_ok()
        && stream.read_to_string(&mut response).await.is_ok()
        && (response.starts_with("HTTP/1.1 200") || response.starts_with("HTTP/1.0 200"))
}

fn nats_server_binary() -> PathBuf {
    std::env::var_os("NATS_SERVER_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("nats-server"))
}

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port on 127.0.0.1")
}

/// A fresh, empty database owned by one test: a SQLite file (deleted on drop), or — when
/// `FLYWHEEL_TEST_POSTGRES` holds an admin URL such as `postgres://user:pw@127.0.0.1:5432/postgres`
/// — a new PostgreSQL database on that server (dropped on drop).
pub struct TestDatabase {
    dir: TempDir,
    postgres: Option<(String, String)>,
}

impl TestDatabase {
    pub fn new() -> Self {
        let dir = TempDir::new().expect("temporary directory");
        let postgres = std::env::var("FLYWHEEL_TEST_POSTGRES").ok().filter(|u| !u.is_empty()).map(|admin| {
            let name = format!("flywheel_test_{}", std::process::id() as u64 * 1_000_000 + next_database());
            postgres_admin(&admin, &format!("CREATE DATABASE {name}"));
            (admin, name)
        });
        Self { dir, postgres }
    }

    pub fn url(&self) -> String {
        match &self.postgres {
            Some((admin, name)) => match admin.rsplit_once('/') {
                Some((server, _)) => format!("{server}/{name}"),
                None => panic!("FLYWHEEL_TEST_POSTGRES must end in /<database>"),
            },
            None => format!("sqlite://{}?mode=rwc", self.dir.path().join("test.db").display()),
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Some((admin, name)) = &self.postgres {
            let _ = std::panic::catch_unwind(|| postgres_admin(admin, &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")));
        }
    }
}

fn next_database() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// Runs one administrative statement with `psql` (tests only; keeps this crate free of a
/// second database driver).
fn postgres_admin(admin_url: &str, sql: &str) {
    let status = Command::new("psql")
        .args([admin_url, "-v", "ON_ERROR_STOP=1", "-q", "-c", sql])
        .stdout(Stdio::null())
        .status()
        .expect("psql must be installed to test against PostgreSQL");
    assert!(status.success(), "psql failed: {sql}");
}

impl Default for TestDatabase {
    fn default() -> Self {
        Self::new()
    }
}

/// Configuration for a service under test: loopback, port 0, this database and NATS, the
/// test's key set, and no rate limit (tests that exercise it set their own).
pub fn config(service: ServiceInfo, database_url: &str, nats_url: &str, auth: &TestAuth) -> Config {
    config_with(service, database_url, nats_url, auth, &[])
}

/// [`config`] with more variables, e.g. `("GRPC_RATE_LIMIT_PER_SECOND", "1")`.
pub fn config_with(
    service: ServiceInfo,
    database_url: &str,
    nats_url: &str,
    auth: &TestAuth,
    extra: &[(&str, &str)],
) -> Config {
    let mut vars = vec![
        ("GRPC_ADDR", "127.0.0.1:0".to_owned()),
        ("HTTP_ADDR", "127.0.0.1:0".to_owned()),
        ("DATABASE_URL", database_url.to_owned()),
        ("NATS_URL", nats_url.to_owned()),
        ("SHUTDOWN_GRACE_MS", "3000".to_owned()),
        ("AUTH_JWKS_FILE", auth.jwks_path().display().to_string()),
        ("GRPC_RATE_LIMIT_PER_SECOND", "0".to_owned()),
    ];
    vars.extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
    Config::from_lookup(service, |name| {
        vars.iter().rev().find(|(k, _)| *k == name).map(|(_, v)| v.clone())
    })
    .expect("test configuration is valid")
}

/// Serves the standard health service with `config` (its TLS and concurrency limit; health
/// needs no token, but passes the gate every server runs) on 127.0.0.1:0 until the returned
/// sender is dropped.
pub async fn serve_health(config: Config) -> (std::net::SocketAddr, tokio::sync::oneshot::Sender<()>) {
    use flywheel_runtime::auth::{AuthLayer, Policy, Verifier};
    let auth = AuthLayer::new(Verifier::load(&config.auth).unwrap(), Policy::new(&[]), None);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (_health, health_service) = tonic_health::server::health_reporter();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let routes = tonic::service::Routes::new(health_service);
        flywheel_runtime::grpc::serve(&config, listener, routes, auth, async {
            let _ = stopped.await;
        })
        .await
        .unwrap();
    });
    (addr, stop)
}

/// Polls `check` until it returns `Some` or `timeout` passes; for state that converges through
/// events (no fixed sleeps).
pub async fn eventually<T, F, Fut>(timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(Instant::now() < deadline, "condition not met within {timeout:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A service running in the test process on its bound loopback ports.
pub struct RunningService {
    pub grpc_addr: std::net::SocketAddr,
    pub http_addr: std::net::SocketAddr,
    pub auth: TestAuth,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl RunningService {
    /// Runs `bound`, configured with `auth`'s key set, until [`stop`](Self::stop) is called.
    pub fn start(bound: flywheel_runtime::host::BoundService, auth: &TestAuth) -> Self {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (grpc_addr, http_addr) = (bound.grpc_addr, bound.http_addr);
        let task = tokio::spawn(bound.run_until(async {
            let _ = stopped.await;
        }));
        Self { grpc_addr, http_addr, auth: auth.clone(), stop: Some(stop), task }
    }

    /// A channel whose calls carry `token`.
    pub async fn channel_with(&self, token: &str) -> AuthChannel {
        InterceptedService::new(self.channel().await, Bearer::new(token))
    }

    /// A token this service accepts for `subject` in `role`.
    pub fn token(&self, role: Role, subject: &str) -> String {
        self.auth.token(role, subject)
    }

    /// A channel that calls as `subject` in `role`.
    pub async fn channel_as(&self, role: Role, subject: &str) -> AuthChannel {
        self.channel_with(&self.auth.token(role, subject)).await
    }

    /// A channel to the service's gRPC address that sends no token.
    pub async fn channel(&self) -> tonic::transport::Channel {
        tonic::transport::Endpoint::from_shared(format!("http://{}", self.grpc_addr))
            .expect("a valid endpoint")
            .connect()
            .await
            .expect("connect to the service under test")
    }

    /// Shuts the service down gracefully and returns how its run ended.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        (&mut self.task).await?
    }
}

impl Drop for RunningService {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
