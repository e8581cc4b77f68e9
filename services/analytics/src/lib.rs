//! Analytics: KPIs, the scenario matrix, the site league, trends and the flywheel indicators,
//! projected from the events of registry, dispatch and feedback. It owns no source data.

pub mod access;
pub mod app;
pub mod closer;
pub mod convert;
pub mod dashboard;
pub mod domain;
pub mod grpc;
pub mod migration;
pub mod projector;
pub mod rebuild;
pub mod settings;
pub mod store;

use flywheel_proto::flywheel::analytics::v1::analytics_service_server::AnalyticsServiceServer;
use flywheel_runtime::events::subscriptions::ANALYTICS;
use flywheel_runtime::host::{BoundService, ServiceHost, Surface};
use flywheel_runtime::{Config, ServiceInfo};
use std::sync::Arc;
use tonic::service::Routes;

pub const SERVICE: ServiceInfo = ServiceInfo { name: "analytics", default_grpc_port: 50054, default_http_port: 8084 };

/// The durable consumer name on every stream analytics reads.
pub const CONSUMER: &str = ANALYTICS[0].service;

/// The streams analytics projects, in the order a rebuild replays them.
pub const STREAMS: [&str; 3] = [ANALYTICS[0].stream.name, ANALYTICS[1].stream.name, ANALYTICS[2].stream.name];

/// Builds analytics from the environment's settings.
pub async fn build(config: Config) -> anyhow::Result<BoundService> {
    let settings = settings::Settings::from_env()?;
    build_with(config, settings).await
}

/// Builds analytics: storage, one durable consumer per stream, the closing of rollup spans, gRPC
/// and the dashboard.
pub async fn build_with(config: Config, settings: settings::Settings) -> anyhow::Result<BoundService> {
    let mut host = ServiceHost::start::<migration::Migrator>(config).await?;
    store::days::realign(&host.db, settings.time_zone).await?;
    let projector = Arc::new(projector::Projector { day_zone: settings.time_zone });
    for subscription in &ANALYTICS {
        host.consume(subscription.consumer(&host.config), projector.clone());
    }
    let db = host.db.clone();
    host.spawn(|stop| closer::run(db, settings.time_zone, stop));
    let analytics = app::Analytics::new(host.db.clone(), host.jetstream.clone(), settings);
    let api = AnalyticsServiceServer::new(grpc::AnalyticsApi::new(analytics.clone()))
        .max_decoding_message_size(host.config.max_message_bytes);
    host.bind(Surface {
        routes: Routes::new(api),
        service_names: vec!["flywheel.analytics.v1.AnalyticsService"],
        rules: access::RULES,
        http: dashboard::router(analytics),
    })
    .await
}
