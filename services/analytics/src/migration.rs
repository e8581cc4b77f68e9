//! Analytics' schema: the runtime's tables, then the projections.

mod compact_facts;
mod legacy_facts;

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;
use sea_orm_migration::sea_orm::DbBackend;

pub struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        let mut all = flywheel_runtime::migrations::all();
        all.push(Box::new(CreateProjections));
        all.push(Box::new(CreateTickets));
        all.push(Box::new(CreateBacklog));
        all.push(Box::new(CreateDayRollup));
        all.push(Box::new(compact_facts::CompactFacts));
        all.push(Box::new(CreateRollupLevels));
        all
    }
}

struct CreateProjections;

impl MigrationName for CreateProjections {
    fn name(&self) -> &str {
        "m0100_analytics_projections"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateProjections {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("kpi_hour")
                .if_not_exists()
                .col(big_integer("hour_us"))
                .col(string_len("site_id", 64))
                .col(string_len("category_id", 64))
                .col(integer("dimension"))
                .col(integer("perspective"))
                .col(string_len("region_path", 400))
                .col(big_integer("backlog_delta"))
                .col(text("facts"))
                .primary_key(
                    Index::create().col("hour_us").col("site_id").col("category_id").col("dimension").col("perspective"),
                )
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("site")
                .if_not_exists()
                .col(string_len("id", 64).primary_key())
                .col(string("code"))
                .col(string("name"))
                .col(string_len("region_path", 400))
                .col(double("lat"))
                .col(double("lng"))
                .col(boolean("flagship"))
                .col(big_integer("registered_us"))
                .col(big_integer_null("retired_us"))
                .col(big_integer("version"))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("region")
                .if_not_exists()
                .col(string_len("id", 64).primary_key())
                .col(string("code"))
                .col(string("name"))
                .col(integer("kind"))
                .col(string_len("path", 400))
                .col(big_integer("version"))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("category")
                .if_not_exists()
                .col(string_len("id", 64).primary_key())
                .col(string("code"))
                .col(string("name"))
                .col(integer("dimension"))
                .col(integer("perspective"))
                .col(big_integer("version"))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("stream_progress")
                .if_not_exists()
                .col(string_len("stream", 64).primary_key())
                .col(big_integer("events_applied"))
                .col(big_integer("last_event_us"))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("projection_meta")
                .if_not_exists()
                .col(string_len("key", 64).primary_key())
                .col(big_integer("value"))
                .to_owned(),
        )
        .await
    }
}

struct CreateTickets;

impl MigrationName for CreateTickets {
    fn name(&self) -> &str {
        "m0101_analytics_tickets"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateTickets {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("ticket")
                .if_not_exists()
                .col(string_len("id", 64).primary_key())
                .col(string_len("site_id", 64))
                .col(string_len("region_path", 400))
                .col(string_len("category_id", 64))
                .col(integer("dimension"))
                .col(integer("perspective"))
                .col(integer("priority"))
                .col(integer("origin_kind"))
                .col(string_len("report_id", 64))
                .col(integer("state"))
                .col(big_integer("create_us"))
                .col(big_integer_null("first_acknowledge_us"))
                .col(big_integer_null("time_to_acknowledge_us"))
                .col(big_integer_null("resolve_us"))
                .col(big_integer_null("time_to_resolve_us"))
                .col(boolean_null("resolved_within_sla"))
                .col(integer("reopen_count"))
                .col(integer("assignment_count"))
                .col(big_integer("version"))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create().name("ticket_created").table("ticket").col("create_us").col("id").if_not_exists().to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("ticket_rating")
                .if_not_exists()
                .col(string_len("ticket_id", 64).primary_key())
                .col(integer("survey_round"))
                .col(integer("rating"))
                .col(integer("fixed"))
                .to_owned(),
        )
        .await
    }
}

struct CreateBacklog;

impl MigrationName for CreateBacklog {
    fn name(&self) -> &str {
        "m0102_analytics_backlog"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateBacklog {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("kpi_backlog")
                .if_not_exists()
                .col(string_len("site_id", 64))
                .col(string_len("category_id", 64))
                .col(integer("dimension"))
                .col(integer("perspective"))
                .col(string_len("region_path", 400))
                .col(big_integer("backlog"))
                .col(big_integer("first_hour_us"))
                .primary_key(
                    Index::create().col("site_id").col("category_id").col("dimension").col("perspective").col("region_path"),
                )
                .to_owned(),
        )
        .await?;
        // The hour rows projected before this table existed.
        crate::store::recount_backlog(m.get_connection()).await
    }
}

struct CreateDayRollup;

impl MigrationName for CreateDayRollup {
    fn name(&self) -> &str {
        "m0103_analytics_day_rollup"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateDayRollup {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("kpi_day")
                .if_not_exists()
                .col(big_integer("day_us"))
                .col(string_len("site_id", 64))
                .col(string_len("category_id", 64))
                .col(integer("dimension"))
                .col(integer("perspective"))
                .col(string_len("region_path", 400))
                .col(big_integer("backlog_delta"))
                .col(text("facts"))
                .primary_key(
                    Index::create()
                        .col("day_us")
                        .col("site_id")
                        .col("category_id")
                        .col("dimension")
                        .col("perspective")
                        .col("region_path"),
                )
                .to_owned(),
        )
        .await
        // The day rows of hour rows projected before this table existed are counted by
        // m0104_analytics_compact_facts, which reads hour rows in the encoding they then have.
    }
}

struct CreateRollupLevels;

impl MigrationName for CreateRollupLevels {
    fn name(&self) -> &str {
        "m0105_analytics_rollup_levels"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateRollupLevels {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let mut table = Table::create();
        table
            .table("kpi_rollup")
            .if_not_exists()
            .col(integer("tier"))
            .col(integer("level"))
            .col(big_integer("start_us"))
            .col(string_len("site_id", 64))
            .col(string_len("category_id", 64))
            .col(integer("dimension"))
            .col(integer("perspective"))
            .col(big_integer("backlog_delta"))
            .col(blob("facts"))
            .primary_key(
                Index::create()
                    .col("tier")
                    .col("level")
                    .col("start_us")
                    .col("site_id")
                    .col("category_id")
                    .col("dimension")
                    .col("perspective"),
            );
        if m.get_database_backend() == DbBackend::Sqlite {
            // Rows stored in key order: a query's rows (one tier, level and run of starts) lie
            // together in the key's B-tree instead of one table lookup each, scattered.
            table.extra("WITHOUT ROWID");
        }
        m.create_table(table).await?;
        // The hour rows projected before this table existed, with days in the zone the
        // service starts with (start-up realigns them if it differs).
        let zone = crate::settings::Settings::from_env().map_err(|e| DbErr::Custom(e.to_string()))?.time_zone;
        crate::store::levels::recount(m.get_connection(), zone).await
    }
}
