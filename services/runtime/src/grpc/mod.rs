//! Serving gRPC the same way in every service: standard health, reflection (v1 and v1alpha),
//! request timeouts, a concurrency limit, RPC metrics, authentication and, when configured, TLS
//! or mutual TLS.

mod metrics_layer;
mod retry;
pub mod tls;

pub use metrics_layer::MetricsLayer;
pub use retry::retry_while_replicating;

use crate::auth::AuthLayer;
use crate::config::Config;
use std::future::Future;
use tokio::net::TcpListener;
use tonic::service::Routes;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;

/// Metadata key through which callers pass the correlation id that follows a piece of work
/// through every service and event.
pub const CORRELATION_METADATA: &str = "x-correlation-id";

/// The caller's correlation id, or a fresh one.
pub fn correlation_id<T>(request: &tonic::Request<T>) -> String {
    request
        .metadata()
        .get(CORRELATION_METADATA)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128 && v.chars().all(|c| c.is_ascii_graphic()))
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::now_v7().to_string())
}

/// Adds gRPC reflection for the Flywheel contracts and the health service.
pub fn with_reflection(routes: Routes) -> anyhow::Result<Routes> {
    let v1 = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(flywheel_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()?;
    let v1alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(flywheel_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1alpha()?;
    Ok(routes.add_service(v1).add_service(v1alpha))
}

/// Streams a client may open on one connection. Request frames of streams waiting for the
/// concurrency limit stay in h2's buffers, and h2 closes the connection with ENHANCE_YOUR_CALM
/// (failing every call on it) once small buffered frames pass half its 1 MiB connection window,
/// at 256 bytes each at worst: 1,024 streams keep within half that allowance, while leaving the
/// handlers busy when finished streams linger before they close.
fn max_concurrent_streams(concurrency_limit: usize) -> u32 {
    u32::try_from(concurrency_limit).unwrap_or(u32::MAX).max(1_024)
}

/// Serves `routes` on `listener` (over TLS when configured) until `shutdown` resolves, then
/// drains in-flight calls. Every call but health and reflection passes `auth` (metrics count its
/// refusals too).
pub async fn serve(
    config: &Config,
    listener: TcpListener,
    routes: Routes,
    auth: AuthLayer,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), tonic::transport::Error> {
    let mut server = Server::builder();
    if let Some(tls) = &config.grpc_tls {
        server = server.tls_config(tls.server_config())?;
    }
    server
        .timeout(config.request_timeout)
        .concurrency_limit_per_connection(config.concurrency_limit)
        .max_concurrent_streams(max_concurrent_streams(config.concurrency_limit))
        .layer(MetricsLayer)
        .layer(auth)
        .add_routes(routes)
        .serve_with_incoming_shutdown(TcpIncoming::from(listener), shutdown)
        .await
}
