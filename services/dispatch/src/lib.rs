//! Ticket dispatch: crews, tickets and their life cycle, automatic dispatch, SLA clocks and
//! escalation, the live ticket feed and recurring work plans.

pub mod access;
pub mod app;
pub mod caller;
pub mod consumers;
pub mod convert;
pub mod domain;
pub mod events;
pub mod grpc;
pub mod index;
pub mod migration;
pub mod store;

use flywheel_proto::flywheel::dispatch::v1::dispatch_service_server::DispatchServiceServer;
use flywheel_runtime::host::{BoundService, ServiceHost, Surface};
use flywheel_runtime::writer::Writer;
use flywheel_runtime::{Config, ServiceInfo};
use std::sync::Arc;
use tonic::service::Routes;

pub const SERVICE: ServiceInfo = ServiceInfo { name: events::SERVICE, default_grpc_port: 50052, default_http_port: 8082 };

/// Builds dispatch: storage, consumers, schedulers and both listeners, ready to run.
pub async fn build(config: Config) -> anyhow::Result<BoundService> {
    let mut host = ServiceHost::start::<migration::Migrator>(config).await?;
    let dispatch = app::Dispatch::new(Writer::new(host.db.clone(), host.outbox.clone()));
    host.consume(consumers::registry_spec(&host.config), Arc::new(consumers::RegistryReplica { dispatch: dispatch.clone() }));
    host.consume(consumers::feedback_spec(&host.config), Arc::new(consumers::FeedbackIntake { dispatch: dispatch.clone() }));
    let (sla, retry, plans) = (dispatch.clone(), dispatch.clone(), dispatch.clone());
    host.spawn(|stop| sla.run_sla_clock(stop));
    host.spawn(|stop| retry.run_retry(stop));
    host.spawn(|stop| plans.run_plans(stop));
    let api = DispatchServiceServer::new(grpc::DispatchApi { dispatch })
        .max_decoding_message_size(host.config.max_message_bytes);
    host.bind(Surface {
        routes: Routes::new(api),
        service_names: vec!["flywheel.dispatch.v1.DispatchService"],
        rules: access::RULES,
        http: axum::Router::new(),
    })
    .await
}
