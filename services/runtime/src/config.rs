//! Configuration layered from defaults and the environment. Every service reads the same names;
//! only the defaults differ (ports, database file).

use crate::events::connection::NkeySeed;
use crate::grpc::tls::{ClientTls, ServerTls};
use crate::auth::AuthSettings;
use std::net::SocketAddr;
use std::time::Duration;

/// What a service is called and where it listens unless told otherwise.
#[derive(Clone, Copy, Debug)]
pub struct ServiceInfo {
    /// Short name: "registry", "dispatch", "feedback" or "analytics".
    pub name: &'static str,
    pub default_grpc_port: u16,
    pub default_http_port: u16,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// The settings of one service process.
#[derive(Clone, Debug)]
pub struct Config {
    pub service: ServiceInfo,
    /// `GRPC_ADDR`
    pub grpc_addr: SocketAddr,
    /// `HTTP_ADDR`: metrics and the service's HTTP pages.
    pub http_addr: SocketAddr,
    /// `DATABASE_URL`: `sqlite://…` or `postgres://…`.
    pub database_url: String,
    /// `NATS_URL`
    pub nats_url: String,
    /// `NATS_NKEY_SEED_FILE`: the service's NATS user; `None` connects without credentials.
    pub nats_nkey_seed: Option<NkeySeed>,
    /// `LOG_FORMAT`: `text` or `json`.
    pub log_format: LogFormat,
    /// `GRPC_REQUEST_TIMEOUT_MS`: the longest any unary call may take (a shorter client deadline wins).
    pub request_timeout: Duration,
    /// `GRPC_CONCURRENCY_LIMIT`: in-flight requests per connection.
    pub concurrency_limit: usize,
    /// `EVENT_MAX_DELIVER`: deliveries of one event before it goes to the dead-letter subject.
    pub event_max_deliver: u64,
    /// `EVENT_FOLLOWER_LINGER_MS`: how long a consumer that only follows decisions made elsewhere
    /// (analytics' counts, a report's status after its ticket) gathers events into one batch.
    pub event_follower_linger: Duration,
    /// `SHUTDOWN_GRACE_MS`: how long shutdown waits for in-flight calls and the outbox.
    pub shutdown_grace: Duration,
    /// `GRPC_TLS_CERT_FILE`, `GRPC_TLS_KEY_FILE`, `GRPC_TLS_CLIENT_CA_FILE`: TLS (and mutual TLS)
    /// for the gRPC server; `None` serves plaintext.
    pub grpc_tls: Option<ServerTls>,
    /// `GRPC_TLS_CA_FILE`, `GRPC_TLS_CLIENT_CERT_FILE`, `GRPC_TLS_CLIENT_KEY_FILE`: how the
    /// `healthcheck` command reaches a TLS server.
    pub grpc_client_tls: Option<ClientTls>,
    /// `AUTH_JWKS_FILE` (required), `AUTH_ISSUER`, `AUTH_AUDIENCE`.
    pub auth: AuthSettings,
    /// `GRPC_RATE_LIMIT_PER_SECOND`: calls one caller may make per second, sustained (0: no limit).
    pub rate_limit_per_second: u32,
    /// `GRPC_RATE_LIMIT_BURST`: calls one caller may make at once.
    pub rate_limit_burst: u32,
    /// `GRPC_MAX_MESSAGE_BYTES`: the largest request message a server decodes.
    pub max_message_bytes: usize,
}

/// A variable that is set but cannot be used, or a required one that is not set (empty value).
#[derive(Debug, thiserror::Error)]
#[error("{}", describe(self))]
pub struct ConfigError {
    pub variable: &'static str,
    pub value: String,
    pub reason: String,
}

fn describe(e: &ConfigError) -> String {
    if e.value.is_empty() {
        format!("environment variable {} is not set; it {}", e.variable, e.reason)
    } else {
        format!("environment variable {}={:?} is invalid: {}", e.variable, e.value, e.reason)
    }
}

impl Config {
    /// Reads the process environment.
    pub fn from_env(service: ServiceInfo) -> Result<Self, ConfigError> {
        Self::from_lookup(service, |name| std::env::var(name).ok())
    }

    /// Reads settings through `lookup` (the environment, or a map in tests).
    pub fn from_lookup(
        service: ServiceInfo,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let get = |name: &'static str| lookup(name).filter(|v| !v.trim().is_empty());
        Ok(Self {
            service,
            grpc_addr: parse_or(
                "GRPC_ADDR",
                get("GRPC_ADDR"),
                SocketAddr::from(([0, 0, 0, 0], service.default_grpc_port)),
            )?,
            http_addr: parse_or(
                "HTTP_ADDR",
                get("HTTP_ADDR"),
                SocketAddr::from(([0, 0, 0, 0], service.default_http_port)),
            )?,
            database_url: database_url(
                get("DATABASE_URL"),
                format!("sqlite://{}.db?mode=rwc", service.name),
            )?,
            nats_url: nats_url(get("NATS_URL"))?,
            nats_nkey_seed: get("NATS_NKEY_SEED_FILE")
                .map(|path| NkeySeed::read("NATS_NKEY_SEED_FILE", &path))
                .transpose()?,
            log_format: match get("LOG_FORMAT").as_deref() {
                None | Some("text") => LogFormat::Text,
                Some("json") => LogFormat::Json,
                Some(other) => return Err(invalid("LOG_FORMAT", other, "expected text or json")),
            },
            request_timeout: Duration::from_millis(positive(
                "GRPC_REQUEST_TIMEOUT_MS",
                get("GRPC_REQUEST_TIMEOUT_MS"),
                30_000,
            )?),
            concurrency_limit: positive(
                "GRPC_CONCURRENCY_LIMIT",
                get("GRPC_CONCURRENCY_LIMIT"),
                256,
            )? as usize,
            event_max_deliver: positive("EVENT_MAX_DELIVER", get("EVENT_MAX_DELIVER"), 5)?,
            event_follower_linger: follower_linger(get("EVENT_FOLLOWER_LINGER_MS"))?,
            shutdown_grace: Duration::from_millis(positive(
                "SHUTDOWN_GRACE_MS",
                get("SHUTDOWN_GRACE_MS"),
                10_000,
            )?),
            grpc_tls: ServerTls::from_lookup(get)?,
            grpc_client_tls: ClientTls::from_lookup(get)?,
            auth: auth_settings(&get)?,
            rate_limit_per_second: parse_or("GRPC_RATE_LIMIT_PER_SECOND", get("GRPC_RATE_LIMIT_PER_SECOND"), 100)?,
            rate_limit_burst: parse_or("GRPC_RATE_LIMIT_BURST", get("GRPC_RATE_LIMIT_BURST"), 200)?,
            max_message_bytes: positive("GRPC_MAX_MESSAGE_BYTES", get("GRPC_MAX_MESSAGE_BYTES"), 1024 * 1024)? as usize,
        })
    }
}

fn auth_settings(get: &impl Fn(&'static str) -> Option<String>) -> Result<AuthSettings, ConfigError> {
    let jwks_file = get("AUTH_JWKS_FILE").ok_or_else(|| {
        invalid(
            "AUTH_JWKS_FILE",
            "",
            "is required: a service refuses to start without the key set that verifies callers' tokens \
             (create one with `flywheel auth init --dir DIR` and set AUTH_JWKS_FILE=DIR/jwks.json)",
        )
    })?;
    Ok(AuthSettings {
        jwks_file: jwks_file.into(),
        issuer: get("AUTH_ISSUER").unwrap_or_else(|| "flywheel".to_owned()),
        audience: get("AUTH_AUDIENCE").unwrap_or_else(|| "flywheel".to_owned()),
    })
}

fn invalid(variable: &'static str, value: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError {
        variable,
        value: value.to_owned(),
        reason: reason.into(),
    }
}

fn parse_or<T: std::str::FromStr>(
    variable: &'static str,
    value: Option<String>,
    default: T,
) -> Result<T, ConfigError>
where
    T::Err: std::fmt::Display,
{
    match value {
        None => Ok(default),
        Some(v) => v.trim().parse().map_err(|e: T::Err| invalid(variable, &v, e.to_string())),
    }
}

fn positive(variable: &'static str, value: Option<String>, default: u64) -> Result<u64, ConfigError> {
    let n = parse_or(variable, value.clone(), default)?;
    if n == 0 {
        return Err(invalid(variable, &value.unwrap_or_default(), "must be greater than zero"));
    }
    Ok(n)
}

/// A linger of at most ten seconds: a batch held longer would near the server's wait for its
/// acknowledgement (thirty seconds) and be delivered again.
fn follower_linger(value: Option<String>) -> Result<Duration, ConfigError> {
    const VARIABLE: &str = "EVENT_FOLLOWER_LINGER_MS";
    let ms: u64 = parse_or(VARIABLE, value.clone(), 50)?;
    if ms > 10_000 {
        return Err(invalid(VARIABLE, &value.unwrap_or_default(), "must be at most 10000"));
    }
    Ok(Duration::from_millis(ms))
}

fn database_url(value: Option<String>, default: String) -> Result<String, ConfigError> {
    let url = value.unwrap_or(default);
    let supported = ["sqlite:", "postgres://", "postgresql://"];
    if supported.iter().any(|p| url.starts_with(p)) {
        Ok(url)
    } else {
        Err(invalid("DATABASE_URL", &url, "expected a sqlite: or postgres:// URL"))
    }
}

fn nats_url(value: Option<String>) -> Result<String, ConfigError> {
    let url = value.unwrap_or_else(|| "nats://127.0.0.1:4222".to_owned());
    let ok = url
        .split(',')
        .all(|u| ["nats://", "tls://", "ws://", "wss://"].iter().any(|p| u.trim().starts_with(p)));
    if ok {
        Ok(url)
    } else {
        Err(invalid("NATS_URL", &url, "expected nats://host:port (comma-separated for a cluster)"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    const REGISTRY: ServiceInfo = ServiceInfo {
        name: "registry",
        default_grpc_port: 50051,
        default_http_port: 8081,
    };

    fn load(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let mut map: HashMap<String, String> = HashMap::from([("AUTH_JWKS_FILE".into(), "/keys/jwks.json".into())]);
        map.extend(vars.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        Config::from_lookup(REGISTRY, |k| map.get(k).cloned())
    }

    #[test]
    fn defaults_follow_the_service() {
        let c = load(&[]).unwrap();
        assert_eq!(c.grpc_addr.to_string(), "0.0.0.0:50051");
        assert_eq!(c.http_addr.to_string(), "0.0.0.0:8081");
        assert_eq!(c.database_url, "sqlite://registry.db?mode=rwc");
        assert_eq!(c.nats_url, "nats://127.0.0.1:4222");
        assert_eq!(c.log_format, LogFormat::Text);
        assert_eq!(c.request_timeout, Duration::from_secs(30));
        assert_eq!(c.auth.issuer, "flywheel");
        assert_eq!(c.auth.audience, "flywheel");
        assert_eq!((c.rate_limit_per_second, c.rate_limit_burst), (100, 200));
        assert_eq!(c.max_message_bytes, 1 << 20);
    }

    #[test]
    fn a_service_needs_a_key_set() {
        let err = Config::from_lookup(REGISTRY, |_| None).unwrap_err();
        assert_eq!(err.variable, "AUTH_JWKS_FILE");
        assert!(err.to_string().contains("refuses to start"), "{err}");
        let c = load(&[("AUTH_ISSUER", "city"), ("AUTH_AUDIENCE", "ops"), ("GRPC_RATE_LIMIT_PER_SECOND", "0")]).unwrap();
        assert_eq!(c.auth.jwks_file, std::path::PathBuf::from("/keys/jwks.json"));
        assert_eq!((c.auth.issuer.as_str(), c.auth.audience.as_str()), ("city", "ops"));
        assert_eq!(c.rate_limit_per_second, 0, "0 turns the limit off");
    }

    #[test]
    fn environment_overrides_defaults() {
        let c = load(&[
            ("GRPC_ADDR", "127.0.0.1:6000"),
            ("DATABASE_URL", "postgres://u:p@db/registry"),
            ("LOG_FORMAT", "json"),
            ("EVENT_MAX_DELIVER", "3"),
            ("EVENT_FOLLOWER_LINGER_MS", "0"),
        ])
        .unwrap();
        assert_eq!(c.grpc_addr.port(), 6000);
        assert!(c.database_url.starts_with("postgres://"));
        assert_eq!(c.log_format, LogFormat::Json);
        assert_eq!(c.event_max_deliver, 3);
        assert_eq!(c.event_follower_linger, Duration::ZERO, "0 applies what has arrived at once");
        assert_eq!(load(&[]).unwrap().event_follower_linger, Duration::from_millis(50));
    }

    #[test]
    fn invalid_values_name_the_variable() {
        for (var, value) in [
            ("GRPC_ADDR", "localhost"),
            ("HTTP_ADDR", "1.2.3.4:99999"),
            ("DATABASE_URL", "mysql://x"),
            ("NATS_URL", "http://x"),
            ("LOG_FORMAT", "xml"),
            ("GRPC_CONCURRENCY_LIMIT", "0"),
            ("GRPC_REQUEST_TIMEOUT_MS", "soon"),
            ("GRPC_RATE_LIMIT_PER_SECOND", "-1"),
            ("GRPC_RATE_LIMIT_BURST", "many"),
            ("GRPC_MAX_MESSAGE_BYTES", "0"),
            ("EVENT_FOLLOWER_LINGER_MS", "10001"),
            ("EVENT_FOLLOWER_LINGER_MS", "soon"),
        ] {
            let err = load(&[(var, value)]).unwrap_err();
            assert_eq!(err.variable, var);
            assert!(err.to_string().contains(var), "{err}");
        }
    }

    #[test]
    fn tls_settings_come_in_pairs_and_name_the_missing_or_unreadable_variable() {
        assert!(load(&[]).unwrap().grpc_tls.is_none());
        assert!(load(&[]).unwrap().grpc_client_tls.is_none());
        let missing = "/nonexistent/flywheel/tls.pem";
        for (vars, variable) in [
            (vec![("GRPC_TLS_CERT_FILE", missing)], "GRPC_TLS_KEY_FILE"),
            (vec![("GRPC_TLS_KEY_FILE", missing)], "GRPC_TLS_CERT_FILE"),
            (vec![("GRPC_TLS_CLIENT_CA_FILE", missing)], "GRPC_TLS_CLIENT_CA_FILE"),
            (vec![("GRPC_TLS_CERT_FILE", missing), ("GRPC_TLS_KEY_FILE", missing)], "GRPC_TLS_CERT_FILE"),
            (vec![("GRPC_TLS_CLIENT_CERT_FILE", missing)], "GRPC_TLS_CA_FILE"),
            (vec![("GRPC_TLS_CA_FILE", missing)], "GRPC_TLS_CA_FILE"),
            (vec![("NATS_NKEY_SEED_FILE", missing)], "NATS_NKEY_SEED_FILE"),
        ] {
            let err = load(&vars).unwrap_err();
            assert_eq!(err.variable, variable, "{vars:?}: {err}");
        }
    }

    #[test]
    fn a_file_without_the_expected_content_is_refused() {
        let dir = std::env::temp_dir().join(format!("flywheel-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let not_pem = dir.join("not-pem.txt");
        std::fs::write(&not_pem, "hello").unwrap();
        let path = not_pem.display().to_string();
        let err = load(&[("GRPC_TLS_CA_FILE", path.as_str())]).unwrap_err();
        assert_eq!(err.variable, "GRPC_TLS_CA_FILE");
        assert!(err.reason.contains("PEM"), "{err}");
        let err = load(&[("NATS_NKEY_SEED_FILE", path.as_str())]).unwrap_err();
        assert_eq!(err.variable, "NATS_NKEY_SEED_FILE");
        assert!(err.reason.contains("NKey"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
