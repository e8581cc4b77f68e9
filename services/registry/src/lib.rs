//! The site registry: the district's regions, managed sites, zones, assets and service catalog.

pub mod access;
pub mod app;
pub mod convert;
pub mod domain;
pub mod events;
pub mod grpc;
pub mod migration;
pub mod store;

use flywheel_proto::flywheel::registry::v1::registry_service_server::RegistryServiceServer;
use flywheel_runtime::host::{BoundService, ServiceHost, Surface};
use flywheel_runtime::writer::Writer;
use flywheel_runtime::{Config, ServiceInfo};
use tonic::service::Routes;

pub const SERVICE: ServiceInfo = ServiceInfo { name: events::SERVICE, default_grpc_port: 50051, default_http_port: 8081 };

/// Builds the registry: storage, events and both listeners, ready to run.
pub async fn build(config: Config) -> anyhow::Result<BoundService> {
    let host = ServiceHost::start::<migration::Migrator>(config).await?;
    let registry = app::Registry::new(Writer::new(host.db.clone(), host.outbox.clone()));
    let api = RegistryServiceServer::new(grpc::RegistryApi::new(registry))
        .max_decoding_message_size(host.config.max_message_bytes);
    host.bind(Surface {
        routes: Routes::new(api),
        service_names: vec!["flywheel.registry.v1.RegistryService"],
        rules: access::RULES,
        http: axum::Router::new(),
    })
    .await
}
