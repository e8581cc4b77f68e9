//! Resident feedback: reports, their public status and timeline, duplicates and "me too",
//! satisfaction surveys and reopen requests, and the Open311 GeoReport v2 endpoint.

pub mod access;
pub mod app;
pub mod caller;
pub mod convert;
pub mod domain;
pub mod events;
pub mod grpc;
pub mod migration;
pub mod open311;
pub mod settings;
pub mod store;

use flywheel_proto::flywheel::feedback::v1::feedback_service_server::FeedbackServiceServer;
use flywheel_runtime::events::subscriptions;
use flywheel_runtime::host::{BoundService, ServiceHost, Surface};
use flywheel_runtime::writer::Writer;
use flywheel_runtime::{Config, ServiceInfo};
use settings::Settings;
use std::sync::Arc;
use tonic::service::Routes;

pub const SERVICE: ServiceInfo = ServiceInfo { name: events::SERVICE, default_grpc_port: 50053, default_http_port: 8083 };

/// Builds feedback with its settings read from the environment.
pub async fn build(config: Config) -> anyhow::Result<BoundService> {
    let settings = Settings::from_env()?;
    build_with(config, settings).await
}

/// Builds feedback: storage, the registry and dispatch consumers, gRPC and Open311 over HTTP.
pub async fn build_with(config: Config, settings: Settings) -> anyhow::Result<BoundService> {
    let mut host = ServiceHost::start::<migration::Migrator>(config).await?;
    host.consume(
        subscriptions::FEEDBACK_FROM_REGISTRY.consumer(&host.config),
        Arc::new(app::replica::RegistryEvents),
    );
    let feedback = app::Feedback::new(Writer::new(host.db.clone(), host.outbox.clone()), settings);
    host.consume(
        subscriptions::FEEDBACK_FROM_DISPATCH.consumer(&host.config),
        Arc::new(app::tickets::TicketEvents::new(feedback.clone())),
    );
    let api = FeedbackServiceServer::new(grpc::FeedbackApi::new(feedback.clone()))
        .max_decoding_message_size(host.config.max_message_bytes);
    host.bind(Surface {
        routes: Routes::new(api),
        service_names: vec!["flywheel.feedback.v1.FeedbackService"],
        rules: access::RULES,
        http: open311::router(feedback),
    })
    .await
}
