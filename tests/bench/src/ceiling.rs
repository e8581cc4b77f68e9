//! `ceiling`: what this machine allows a report intake at best. A minimal server takes the same
//! request as SubmitReport and does only what the job cannot skip — one tonic unary call, one
//! durable insert into the same kind of database (through the same connection settings as the
//! services), one JetStream publish awaited until acknowledged — loaded by the same generator,
//! so the real intake reads as a share of it.

use crate::intake;
use crate::load::{self, Step};
use crate::seed::{self, World};
use async_nats::jetstream;
use flywheel_proto::flywheel::feedback::v1::{Report, SubmitReportRequest};
use flywheel_runtime::db::{connect_and_migrate, now_micros};
use prost::Message;
use sea_orm::sea_query::Query;
use sea_orm::{ConnectionTrait, DatabaseConnection};
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;
use serde::Serialize;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio_stream::wrappers::TcpListenerStream;

pub mod pb {
    tonic::include_proto!("flywheel.bench.v1");
}

use pb::ceiling_service_client::CeilingServiceClient;
use pb::ceiling_service_server::{CeilingService, CeilingServiceServer};

const STREAM: &str = "BENCH_CEILING";

#[derive(clap::Args, Debug)]
pub struct CeilingArgs {
    /// The database the minimal server writes to (`sqlite://…` or `postgres://…`).
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: String,
    #[arg(long, env = "NATS_URL", default_value = "nats://127.0.0.1:4222")]
    pub nats_url: String,
    /// Offered loads, calls per second, one step each.
    #[arg(long, value_delimiter = ',', default_value = "500,1000,2000,4000,8000")]
    pub rates: Vec<f64>,
    #[arg(long, default_value_t = 10)]
    pub step_secs: u64,
    #[arg(long, default_value_t = 1000)]
    pub max_p99_ms: u64,
    #[arg(long)]
    pub out: PathBuf,
}

#[derive(Debug, Serialize)]
pub struct CeilingResult {
    pub steps: Vec<Step>,
    pub sustained_per_s: f64,
}

struct MinimalIntake {
    db: DatabaseConnection,
    js: jetstream::Context,
}

#[tonic::async_trait]
impl CeilingService for MinimalIntake {
    async fn submit(&self, request: tonic::Request<SubmitReportRequest>) -> Result<tonic::Response<Report>, tonic::Status> {
        let draft = request.into_inner().report.unwrap_or_default();
        let id = uuid::Uuid::now_v7().to_string();
        let insert = Query::insert()
            .into_table("ceiling_report")
            .columns(["id", "site_id", "category_id", "description", "submit_us"])
            .values_panic([id.clone().into(), draft.site_id.clone().into(), draft.category_id.clone().into(), draft.description.clone().into(), now_micros().into()])
            .to_owned();
        let backend = self.db.get_database_backend();
        self.db.execute_raw(backend.build(&insert)).await.map_err(|_| tonic::Status::unavailable("database"))?;
        let report = Report { id: id.clone(), ..draft };
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("Nats-Msg-Id", id.as_str());
        let ack = self
            .js
            .publish_with_headers("bench.ceiling.report.submitted", headers, report.encode_to_vec().into())
            .await
            .map_err(|_| tonic::Status::unavailable("nats"))?;
        ack.await.map_err(|_| tonic::Status::unavailable("nats ack"))?;
        Ok(tonic::Response::new(report))
    }
}

pub async fn run(args: &CeilingArgs) -> anyhow::Result<CeilingResult> {
    let db = connect_and_migrate::<CeilingMigrator>(&args.database_url).await?;
    let js = jetstream::new(async_nats::connect(&args.nats_url).await?);
    js.get_or_create_stream(jetstream::stream::Config { name: STREAM.into(), subjects: vec!["bench.ceiling.>".into()], ..Default::default() })
        .await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(CeilingServiceServer::new(MinimalIntake { db, js }))
            .serve_with_incoming(TcpListenerStream::new(listener)),
    );
    let client = CeilingServiceClient::new(crate::client::connect(&format!("http://{address}")).await?);

    let world = World {
        district_id: "ceiling".into(),
        sites: (0..200).map(|n| (format!("site-{n}"), seed::spread(n, 200))).collect(),
        category_ids: vec!["category".into()],
    };
    let counter = Arc::new(AtomicU64::new(0));
    let mut steps = Vec::new();
    for &rate in &args.rates {
        let call = |_| {
            let request = intake::report(&world, counter.fetch_add(1, Ordering::Relaxed));
            let mut client = client.clone();
            async move { client.submit(request).await.map(|_| ()) }
        };
        let step = load::run_step(rate, Duration::from_secs(args.step_secs), call).await;
        eprintln!("ceiling: offered {}/s achieved {}/s errors {:?} p99 {} ms", step.offered_per_s, step.achieved_per_s, step.errors, step.call.p99_ms);
        let saturated = step.saturated(Duration::from_millis(args.max_p99_ms));
        steps.push(step);
        if saturated {
            break;
        }
    }
    let sustained_per_s = load::sustained(&steps, Duration::from_millis(args.max_p99_ms));
    Ok(CeilingResult { steps, sustained_per_s })
}


struct CeilingMigrator;

#[async_trait::async_trait]
impl MigratorTrait for CeilingMigrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(CreateCeilingReport)]
    }
}

struct CreateCeilingReport;

impl MigrationName for CreateCeilingReport {
    fn name(&self) -> &str {
        "m0001_ceiling_report"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateCeilingReport {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("ceiling_report")
                    .if_not_exists()
                    .col(string_len("id", 64).primary_key())
                    .col(string("site_id"))
                    .col(string("category_id"))
                    .col(text("description"))
                    .col(big_integer("submit_us"))
                    .to_owned(),
            )
            .await
    }
}
