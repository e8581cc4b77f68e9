//! The life of a service process: connect the database (and migrate) and NATS, run the outbox
//! relay and the consumers, serve gRPC and HTTP, and shut down in order.

use crate::auth::{AuthLayer, Policy, RateLimiter, Rule, Verifier};
use crate::config::Config;
use crate::events::consumer::{self, ConsumerSpec, EventHandler};
use crate::events::outbox::{Outbox, Relay};
use async_nats::jetstream;
use sea_orm::DatabaseConnection;
use sea_orm_migration::MigratorTrait;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tonic::service::Routes;
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;

/// A started service core: storage and messaging are up; nothing is served yet.
pub struct ServiceHost {
    pub config: Config,
    pub db: DatabaseConnection,
    pub jetstream: jetstream::Context,
    pub outbox: Outbox,
    stop: watch::Sender<bool>,
    relay: JoinHandle<()>,
    tasks: Vec<JoinHandle<()>>,
}

/// What a service exposes: its gRPC services (by full name, for health), who may call each
/// method, and HTTP routes.
pub struct Surface {
    pub routes: Routes,
    /// Full gRPC service names, e.g. `flywheel.registry.v1.RegistryService`.
    pub service_names: Vec<&'static str>,
    /// The roles allowed per method; a method without a rule is refused.
    pub rules: &'static [Rule],
    pub http: axum::Router,
}

impl ServiceHost {
    /// Connects the database (running `M`'s migrations) and NATS, and starts the outbox relay.
    /// NATS may be down: the connection keeps retrying and events wait in the outbox.
    pub async fn start<M: MigratorTrait>(config: Config) -> anyhow::Result<Self> {
        let db = crate::db::connect_and_migrate::<M>(&config.database_url).await?;
        let nats = crate::events::connection::options(&config)
            .retry_on_initial_connect()
            .connection_timeout(Duration::from_secs(5))
            .connect(config.nats_url.as_str())
            .await?;
        let jetstream = jetstream::new(nats);
        let outbox = Outbox::new();
        let (stop, stop_rx) = watch::channel(false);
        let relay = tokio::spawn(
            Relay::new(db.clone(), jetstream.clone(), outbox.clone(), config.service.name).run(stop_rx),
        );
        Ok(Self {
            config,
            db,
            jetstream,
            outbox,
            stop,
            relay,
            tasks: Vec::new(),
        })
    }

    /// Runs a durable consumer for the life of the service.
    pub fn consume(&mut self, spec: ConsumerSpec, handler: Arc<dyn EventHandler>) {
        self.tasks.push(tokio::spawn(consumer::run(
            self.jetstream.clone(),
            self.db.clone(),
            spec,
            handler,
            self.outbox.clone(),
            self.stop.subscribe(),
        )));
    }

    /// Runs a background loop for the life of the service: `task` is given the stop signal and
    /// returns soon after it turns true; shutdown waits for it as for the consumers.
    pub fn spawn<F, Fut>(&mut self, task: F)
    where
        F: FnOnce(watch::Receiver<bool>) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.tasks.push(tokio::spawn(task(self.stop.subscribe())));
    }

    /// Loads the token verifier and binds the gRPC and HTTP listeners (port 0 picks a free port).
    pub async fn bind(self, surface: Surface) -> anyhow::Result<BoundService> {
        let auth = AuthLayer::new(
            Verifier::load(&self.config.auth)?,
            Policy::new(surface.rules),
            RateLimiter::new(self.config.rate_limit_per_second, self.config.rate_limit_burst),
        );
        let grpc = TcpListener::bind(self.config.grpc_addr).await?;
        let http = TcpListener::bind(self.config.http_addr).await?;
        Ok(BoundService {
            grpc_addr: grpc.local_addr()?,
            http_addr: http.local_addr()?,
            grpc,
            http,
            host: self,
            surface,
            auth,
        })
    }
}

/// A service with its listeners bound, ready to run.
pub struct BoundService {
    pub grpc_addr: SocketAddr,
    pub http_addr: SocketAddr,
    grpc: TcpListener,
    http: TcpListener,
    host: ServiceHost,
    surface: Surface,
    auth: AuthLayer,
}

impl BoundService {
    /// Serves until `shutdown` resolves; then reports NOT_SERVING, drains in-flight calls,
    /// stops the consumers and flushes the outbox.
    pub async fn run_until(self, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        let Self { grpc, http, host, surface, auth, .. } = self;
        let (health, health_service) = tonic_health::server::health_reporter();
        set_status(&health, &surface.service_names, ServingStatus::Serving).await;
        let routes = crate::grpc::with_reflection(surface.routes.add_service(health_service))?;

        let (begin_drain, drain_signal) = tokio::sync::oneshot::channel::<()>();
        let config = host.config.clone();
        let grpc_task = tokio::spawn(async move {
            crate::grpc::serve(&config, grpc, routes, auth, async {
                let _ = drain_signal.await;
            })
            .await
        });
        let mut http_stop = host.stop.subscribe();
        let http_task = tokio::spawn(async move {
            axum::serve(http, crate::http::router(surface.http))
                .with_graceful_shutdown(async move {
                    let _ = http_stop.wait_for(|stopped| *stopped).await;
                })
                .await
        });
        let watchdog = tokio::spawn(watch_database(
            host.db.clone(),
            health.clone(),
            surface.service_names.clone(),
            host.stop.subscribe(),
        ));

        tokio::pin!(shutdown);
        tokio::select! {
            _ = &mut shutdown => tracing::info!("shutting down"),
            result = &mut Box::pin(wait_serving(grpc_task)) => {
                return Err(anyhow::anyhow!("gRPC server stopped: {result:?}"));
            }
        }
        stop_in_order(host, health, surface.service_names, begin_drain, http_task, watchdog).await
    }
}

async fn wait_serving(
    task: JoinHandle<Result<(), tonic::transport::Error>>,
) -> Result<(), String> {
    match task.await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(e) => Err(e.to_string()),
    }
}

async fn stop_in_order(
    host: ServiceHost,
    health: HealthReporter,
    names: Vec<&'static str>,
    begin_drain: tokio::sync::oneshot::Sender<()>,
    http_task: JoinHandle<std::io::Result<()>>,
    watchdog: JoinHandle<()>,
) -> anyhow::Result<()> {
    set_status(&health, &names, ServingStatus::NotServing).await;
    let _ = begin_drain.send(());
    let grace = host.config.shutdown_grace;
    let _ = host.stop.send(true);
    for task in host.tasks {
        let _ = tokio::time::timeout(grace, task).await;
    }
    // The relay flushes what is left before it returns.
    let _ = tokio::time::timeout(grace, host.relay).await;
    let _ = tokio::time::timeout(grace, http_task).await;
    watchdog.abort();
    host.db.close().await?;
    tracing::info!("stopped");
    Ok(())
}

async fn set_status(health: &HealthReporter, names: &[&'static str], status: ServingStatus) {
    health.set_service_status("", status).await;
    for name in names {
        health.set_service_status(*name, status).await;
    }
}

/// Reports NOT_SERVING while the database does not answer, and SERVING again when it does.
async fn watch_database(
    db: DatabaseConnection,
    health: HealthReporter,
    names: Vec<&'static str>,
    mut stop: watch::Receiver<bool>,
) {
    let mut healthy = true;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(2)) => {}
            _ = stop.changed() => return,
        }
        let ok = tokio::time::timeout(Duration::from_secs(2), db.ping())
            .await
            .is_ok_and(|r| r.is_ok());
        if ok != healthy && !*stop.borrow() {
            healthy = ok;
            let status = if ok { ServingStatus::Serving } else { ServingStatus::NotServing };
            tracing::warn!(?status, "database health changed");
            set_status(&health, &names, status).await;
        }
    }
}
