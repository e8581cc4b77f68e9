//! Brings the compose deployment up under a fresh project name with fresh volumes and free
//! loopback ports, waits for every health check, and tears it down afterwards — keeping every
//! container's logs under `target/e2e-logs/<project>/` when a test failed.

pub mod world;

use flywheel_testing::{AuthChannel, Bearer};
use std::collections::HashMap;
use tonic::service::interceptor::InterceptedService;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

pub const SERVICES: [&str; 4] = ["registry", "dispatch", "feedback", "analytics"];

/// A running compose project.
pub struct Stack {
    pub project: String,
    ports: HashMap<&'static str, u16>,
    root: PathBuf,
    compose: Vec<String>,
    files: Vec<String>,
    extra_env: Vec<(String, String)>,
    tokens: std::sync::Mutex<HashMap<(String, String), String>>,
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("workspace root")
}

/// `docker compose` (v2) when present, else `docker-compose` (1.29).
fn compose_command() -> Vec<String> {
    let v2 = Command::new("docker").args(["compose", "version"]).output();
    if v2.is_ok_and(|o| o.status.success()) {
        vec!["docker".into(), "compose".into()]
    } else {
        vec!["docker-compose".into()]
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

fn free_ports() -> HashMap<&'static str, u16> {
    PORT_VARIABLES.iter().map(|(k, _)| (*k, free_port())).collect()
}

const PORT_VARIABLES: [(&str, &str); 11] = [
    ("nats", "NATS_PORT"),
    ("nats-monitor", "NATS_MONITOR_PORT"),
    ("postgres", "POSTGRES_PORT"),
    ("registry", "REGISTRY_GRPC_PORT"),
    ("registry-http", "REGISTRY_HTTP_PORT"),
    ("dispatch", "DISPATCH_GRPC_PORT"),
    ("dispatch-http", "DISPATCH_HTTP_PORT"),
    ("feedback", "FEEDBACK_GRPC_PORT"),
    ("feedback-http", "FEEDBACK_HTTP_PORT"),
    ("analytics", "ANALYTICS_GRPC_PORT"),
    ("analytics-http", "ANALYTICS_HTTP_PORT"),
];

impl Stack {
    /// Starts the whole stack and waits until every container is healthy.
    pub fn up(name: &str) -> Self {
        Self::up_with(name, &[], &[])
    }

    /// [`up`](Self::up) with compose overlays (e.g. `deploy/compose.tls.yaml`) and more variables.
    pub fn up_with(name: &str, overlays: &[&str], env: &[(&str, &str)]) -> Self {
        let mut files = vec!["deploy/compose.yaml".to_owned()];
        files.extend(overlays.iter().map(|f| f.to_string()));
        let mut stack = Self {
            project: format!("fwe2e{}{}", name.replace(['_', '-'], ""), std::process::id()),
            ports: free_ports(),
            root: workspace_root(),
            compose: compose_command(),
            files,
            extra_env: env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            tokens: Default::default(),
        };
        for attempt in 1.. {
            let up = stack.compose(&["up", "-d", "--no-build"]);
            if up.status.success() {
                break;
            }
            let stderr = String::from_utf8_lossy(&up.stderr);
            // A port found free may be taken before compose binds it (tests start stacks in
            // parallel): start again on other ports.
            if attempt < 3 && stderr.contains("port is already allocated") {
                stack.compose(&["down", "-v", "--remove-orphans", "-t", "5"]);
                stack.ports = free_ports();
                continue;
            }
            panic!("compose up failed:\n{stderr}");
        }
        stack.wait_healthy(&["nats", "postgres"].iter().chain(SERVICES.iter()).copied().collect::<Vec<_>>(), Duration::from_secs(180));
        stack
    }

    fn env(&self) -> Vec<(String, String)> {
        let ports = PORT_VARIABLES.iter().map(|(k, var)| (var.to_string(), self.ports[k].to_string()));
        ports.chain(self.extra_env.iter().cloned()).collect()
    }

    /// Runs a compose subcommand for this project.
    pub fn compose(&self, args: &[&str]) -> Output {
        let (program, rest) = self.compose.split_first().expect("a compose command");
        Command::new(program)
            .args(rest)
            .args(self.files.iter().flat_map(|f| ["-f", f.as_str()]))
            .args(["-p", &self.project])
            .args(args)
            .envs(self.env())
            .current_dir(&self.root)
            .output()
            .expect("run compose")
    }

    /// The container id of a service.
    pub fn container(&self, service: &str) -> String {
        let out = self.compose(&["ps", "-q", service]);
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    pub fn docker(&self, args: &[&str]) -> Output {
        Command::new("docker").args(args).output().expect("run docker")
    }

    fn health(&self, service: &str) -> String {
        let id = self.container(service);
        if id.is_empty() {
            return "missing".into();
        }
        let out = self.docker(&["inspect", "--format", "{{if .State.Health}}{{.State.Health.Status}}{{else}}{{.State.Status}}{{end}}", &id]);
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// Waits until each service's health check passes.
    pub fn wait_healthy(&self, services: &[&str], within: Duration) {
        let deadline = Instant::now() + within;
        for service in services {
            loop {
                let health = self.health(service);
                if health == "healthy" {
                    break;
                }
                assert!(Instant::now() < deadline, "{service} is {health}, not healthy, after {within:?}");
                std::thread::sleep(Duration::from_millis(500));
            }
        }
    }

    /// The gRPC endpoint of a service on the loopback port compose published.
    pub fn endpoint(&self, service: &str) -> String {
        format!("http://127.0.0.1:{}", self.ports[service])
    }

    /// The loopback port compose published for `name` (a service's gRPC, or e.g. `nats`).
    pub fn port(&self, name: &str) -> u16 {
        self.ports[name]
    }

    /// The HTTP address (metrics, pages) of a service.
    pub fn http(&self, service: &str) -> String {
        format!("127.0.0.1:{}", self.ports[format!("{service}-http").as_str()])
    }

    /// A channel to a service whose calls carry `token`.
    pub async fn channel(&self, service: &str, token: &str) -> AuthChannel {
        let channel = tonic::transport::Endpoint::from_shared(self.endpoint(service))
            .expect("endpoint")
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(30))
            .connect()
            .await
            .expect("connect to the stack");
        InterceptedService::new(channel, Bearer::new(token))
    }

    /// Runs the `flywheel` tool in the deployment's `secrets` container (it holds the signing
    /// key and the tools user's NATS seed) and returns what it printed.
    fn tool(&self, entrypoint: &str, args: &[&str]) -> String {
        let mut command = vec!["run", "--rm", "--no-deps", "-T", "--entrypoint", entrypoint, "secrets"];
        command.extend_from_slice(args);
        let out = self.compose(&command);
        assert!(out.status.success(), "{entrypoint} {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// A token signed with the deployment's key: `role` for `subject`, valid two hours (minted
    /// once per stack).
    pub fn token(&self, role: &str, subject: &str) -> String {
        let key = (role.to_owned(), subject.to_owned());
        if let Some(token) = self.tokens.lock().expect("tokens").get(&key) {
            return token.clone();
        }
        let signing_key = "/secrets/tools/jwt-signing-key.pem";
        let token = self.tool("flywheel", &["auth", "token", "--key", signing_key, "--role", role, "--subject", subject, "--ttl", "2h"]);
        self.tokens.lock().expect("tokens").insert(key, token.clone());
        token
    }

    /// A client of the stack's NATS server as the tools user (read-only access to the streams).
    pub async fn nats_client(&self) -> async_nats::Client {
        let seed = self.tool("cat", &["/secrets/tools/nats/tools.nk"]);
        async_nats::ConnectOptions::with_nkey(seed)
            .custom_inbox_prefix(flywheel_runtime::events::permissions::inbox_prefix("tools"))
            .connect(format!("nats://127.0.0.1:{}", self.ports["nats"]))
            .await
            .expect("connect to the stack's NATS as tools")
    }

    /// Keeps every container's logs.
    pub fn save_logs(&self) -> PathBuf {
        let dir = self.root.join("target/e2e-logs").join(&self.project);
        let _ = std::fs::create_dir_all(&dir);
        for service in ["secrets", "nats", "postgres"].iter().chain(SERVICES.iter()) {
            let out = self.compose(&["logs", "--no-color", "--timestamps", service]);
            let _ = std::fs::write(dir.join(format!("{service}.log")), [out.stdout, out.stderr].concat());
        }
        dir
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let dir = self.save_logs();
            eprintln!("container logs kept in {}", dir.display());
        }
        let _ = self.compose(&["down", "-v", "--remove-orphans", "-t", "5"]);
    }
}

/// Polls `check` until it returns `Some` or `within` passes.
pub async fn eventually<T, F, Fut>(within: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + within;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(Instant::now() < deadline, "{what}: not within {within:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
