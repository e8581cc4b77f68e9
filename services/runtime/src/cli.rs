//! The command line every service binary shares: `serve` (the default) and `healthcheck`.

use crate::config::{Config, ServiceInfo};
use crate::grpc::tls::ClientTls;
use crate::host::BoundService;
use std::future::Future;
use std::process::ExitCode;
use std::time::Duration;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

/// Parses the command line, loads the configuration and runs the service or the health check.
pub fn run<F, Fut>(service: ServiceInfo, build: F) -> ExitCode
where
    F: FnOnce(Config) -> Fut,
    Fut: Future<Output = anyhow::Result<BoundService>>,
{
    let command = std::env::args().nth(1).unwrap_or_else(|| "serve".to_owned());
    let config = match Config::from_env(service) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("flywheel-{}: {e}", service.name);
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("flywheel-{}: cannot start the async runtime: {e}", service.name);
            return ExitCode::FAILURE;
        }
    };
    match command.as_str() {
        "serve" => runtime.block_on(serve(config, build)),
        "healthcheck" => runtime.block_on(healthcheck(&config)),
        "-h" | "--help" | "help" => {
            println!(
                "usage: flywheel-{} [serve | healthcheck]\n\n  serve        run the service (default)\n  healthcheck  exit 0 when the service on GRPC_ADDR reports SERVING (over TLS with GRPC_TLS_CA_FILE)\n\nConfiguration comes from the environment; see the README.",
                service.name
            );
            ExitCode::SUCCESS
        }
        other => {
            eprintln!("flywheel-{}: unknown command {other:?}; try --help", service.name);
            ExitCode::from(2)
        }
    }
}

async fn serve<F, Fut>(config: Config, build: F) -> ExitCode
where
    F: FnOnce(Config) -> Fut,
    Fut: Future<Output = anyhow::Result<BoundService>>,
{
    crate::telemetry::init(config.log_format);
    let name = config.service.name;
    let bound = match build(config).await {
        Ok(b) => b,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "start-up failed");
            return ExitCode::FAILURE;
        }
    };
    tracing::info!(service = name, grpc = %bound.grpc_addr, http = %bound.http_addr, "serving");
    match bound.run_until(crate::shutdown::signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "stopped with an error");
            ExitCode::FAILURE
        }
    }
}

/// Asks the service at `GRPC_ADDR` (a wildcard address means this host) for its health, over
/// TLS when `GRPC_TLS_CA_FILE` is set.
pub async fn healthcheck(config: &Config) -> ExitCode {
    let mut addr = config.grpc_addr;
    if addr.ip().is_unspecified() {
        addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    match check(addr, config.grpc_client_tls.as_ref()).await {
        Ok(ServingStatus::Serving) => ExitCode::SUCCESS,
        Ok(status) => {
            eprintln!("{addr}: {status:?}");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("{addr}: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn check(addr: std::net::SocketAddr, tls: Option<&ClientTls>) -> anyhow::Result<ServingStatus> {
    let endpoint = match tls {
        Some(tls) => tls.endpoint(&addr.to_string())?,
        None => tonic::transport::Endpoint::from_shared(format!("http://{addr}"))?,
    };
    let channel = endpoint
        .connect_timeout(Duration::from_secs(3))
        .timeout(Duration::from_secs(3))
        .connect()
        .await?;
    let response = HealthClient::new(channel).check(HealthCheckRequest { service: String::new() }).await?;
    Ok(response.into_inner().status())
}
