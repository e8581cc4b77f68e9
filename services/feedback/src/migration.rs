//! Feedback's schema, as versioned migrations after the runtime's own.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;
use flywheel_runtime::migrations::index;

pub struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        let mut all = flywheel_runtime::migrations::all();
        all.push(Box::new(CreateFeedback));
        all.push(Box::new(CreateZoneReplica));
        all.push(Box::new(IntakeCounters));
        all.push(Box::new(ReportTicketLinks));
        all
    }
}

struct CreateFeedback;

impl MigrationName for CreateFeedback {
    fn name(&self) -> &str {
        "m0100_feedback"
    }
}

fn id(name: &'static str) -> ColumnDef {
    string_len(name, 128)
}

#[async_trait::async_trait]
impl MigrationTrait for CreateFeedback {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let tables = [
            Table::create()
                .table("site")
                .if_not_exists()
                .col(id("id").primary_key())
                .col(string_len("code", 64))
                .col(string("name"))
                .col(string_len("region_path", 400))
                .col(double("lat"))
                .col(double("lng"))
                .col(double("service_radius_m"))
                .col(text("address"))
                .col(integer("status"))
                .col(big_integer("version"))
                .to_owned(),
            Table::create()
                .table("category")
                .if_not_exists()
                .col(id("id").primary_key())
                .col(string_len("code", 64))
                .col(string("name"))
                .col(text("description"))
                .col(integer("dimension"))
                .col(integer("perspective"))
                .col(integer("default_priority"))
                .col(integer("status"))
                .col(big_integer("version"))
                .to_owned(),
            Table::create()
                .table("report")
                .if_not_exists()
                .col(id("id").primary_key())
                .col(string_len_uniq("tracking_code", 16))
                .col(integer("kind"))
                .col(id("site_id"))
                .col(string_len("region_path", 400))
                .col(id("zone_id"))
                .col(double_null("lat"))
                .col(double_null("lng"))
                .col(text("address"))
                .col(id("category_id"))
                .col(integer("dimension"))
                .col(integer("perspective"))
                .col(integer("priority_hint"))
                .col(text("description"))
                .col(text("media_urls"))
                .col(integer("channel"))
                .col(id("resident_id"))
                .col(boolean("needs_field_work"))
                .col(integer("status"))
                .col(id("ticket_id"))
                .col(id("duplicate_of"))
                .col(integer("duplicate_count"))
                .col(integer("support_count"))
                .col(integer("reopen_count"))
                .col(id("correlation_id"))
                .col(big_integer("version"))
                .col(big_integer("submit_us"))
                .col(big_integer("update_us"))
                .col(big_integer_null("close_us"))
                .col(big_integer_null("expected_resolve_us"))
                .to_owned(),
            Table::create()
                .table("report_timeline")
                .if_not_exists()
                .col(id("report_id"))
                .col(integer("seq"))
                .col(integer("status"))
                .col(big_integer("time_us"))
                .col(text("note"))
                .primary_key(Index::create().col("report_id").col("seq"))
                .to_owned(),
            Table::create()
                .table("survey")
                .if_not_exists()
                .col(id("report_id"))
                .col(integer("round"))
                .col(integer("state"))
                .col(id("ticket_id"))
                .col(big_integer("open_us"))
                .col(big_integer("close_us"))
                .col(integer("rating"))
                .col(integer("fixed"))
                .col(text("comment"))
                .col(big_integer_null("rate_us"))
                .primary_key(Index::create().col("report_id").col("round"))
                .to_owned(),
            Table::create()
                .table("resident_contact")
                .if_not_exists()
                .col(id("report_id").primary_key())
                .col(string_len("name", 400))
                .col(string_len("phone", 64))
                .col(string_len("email", 400))
                .to_owned(),
            Table::create()
                .table("report_support")
                .if_not_exists()
                .col(id("report_id"))
                .col(id("resident_id"))
                .col(integer("channel"))
                .col(big_integer("time_us"))
                .primary_key(Index::create().col("report_id").col("resident_id"))
                .to_owned(),
        ];
        for table in tables {
            m.create_table(table).await?;
        }
        for i in [
            index("report_site_category", "report", &["site_id", "category_id", "submit_us"], false),
            index("report_resident", "report", &["resident_id", "submit_us"], false),
            index("report_channel", "report", &["channel", "submit_us"], false),
            index("report_ticket", "report", &["ticket_id"], false),
            index("report_duplicate_of", "report", &["duplicate_of"], false),
            index("report_region_path", "report", &["region_path"], false),
            index("support_resident", "report_support", &["resident_id", "time_us"], false),
            index("site_lat_lng", "site", &["lat", "lng"], false),
            index("category_code", "category", &["code"], false),
        ] {
            m.create_index(i).await?;
        }
        Ok(())
    }
}

/// The zone replica, to check a report's zone belongs to its site.
struct CreateZoneReplica;

impl MigrationName for CreateZoneReplica {
    fn name(&self) -> &str {
        "m0101_feedback_zone"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateZoneReplica {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("zone")
                .if_not_exists()
                .col(id("id").primary_key())
                .col(id("site_id"))
                .col(integer("status"))
                .col(big_integer("version"))
                .to_owned(),
        )
        .await
    }
}

/// Windowed rate-limit counters, and an index of the reports by primary and place, so a
/// submission neither counts the last minute's reports nor loads every report at its site.
struct IntakeCounters;

impl MigrationName for IntakeCounters {
    fn name(&self) -> &str {
        "m0102_feedback_intake"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for IntakeCounters {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("rate_count")
                .if_not_exists()
                .col(string_len("scope", 200))
                .col(big_integer("window_us"))
                .col(integer("shard"))
                .col(big_integer("count"))
                .col(big_integer("expire_us"))
                .primary_key(Index::create().col("scope").col("window_us").col("shard"))
                .to_owned(),
        )
        .await?;
        m.create_index(index("rate_count_expiry", "rate_count", &["expire_us"], false)).await?;
        // Replaces the index on duplicate_of alone: it still finds a report's duplicates (its
        // leading column), and the duplicate check, which asks for duplicate_of = '', finds the
        // candidates by place in it; with the old index beside it, a planner without statistics
        // yet (a new table filling fast) picked the old one and read every primary report.
        m.drop_index(Index::drop().name("report_duplicate_of").table("report").to_owned()).await?;
        m.create_index(index(
            "report_duplicate_of_place",
            "report",
            &["duplicate_of", "site_id", "category_id", "lat", "lng"],
            false,
        ))
        .await?;
        Ok(())
    }
}

/// Finds a ticket's reports through `report_ticket` instead of an index on `report.ticket_id`:
/// linking a report to its ticket then changes no indexed column, and room left in the report
/// table's pages (PostgreSQL's `fillfactor`) lets its status updates stay in place (HOT) rather
/// than add an entry to each of its indexes.
struct ReportTicketLinks;

impl MigrationName for ReportTicketLinks {
    fn name(&self) -> &str {
        "m0103_feedback_report_ticket"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for ReportTicketLinks {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // First: on SQLite the index's name would clash with the table's.
        m.drop_index(Index::drop().name("report_ticket").table("report").to_owned()).await?;
        m.create_table(
            Table::create()
                .table("report_ticket")
                .if_not_exists()
                .col(id("ticket_id"))
                .col(id("report_id"))
                .primary_key(Index::create().col("ticket_id").col("report_id"))
                .to_owned(),
        )
        .await?;
        let db = m.get_connection();
        db.execute_unprepared("INSERT INTO report_ticket (ticket_id, report_id) SELECT ticket_id, id FROM report WHERE ticket_id <> ''")
            .await?;
        if m.get_database_backend() == sea_orm::DatabaseBackend::Postgres {
            // New pages keep a fifth free for the updated versions of their rows.
            db.execute_unprepared("ALTER TABLE report SET (fillfactor = 80)").await?;
        }
        Ok(())
    }
}
