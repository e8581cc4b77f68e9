//! Dispatch's schema, as versioned migrations after the runtime's own. Resources are stored as
//! their protobuf message (`body`) beside the columns that queries filter and sort on.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;
use flywheel_runtime::migrations::index;

pub struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        let mut all = flywheel_runtime::migrations::all();
        all.push(Box::new(CreateDispatch));
        all.push(Box::new(CreateWorkPlans));
        all.push(Box::new(CreateTicketNumbers));
        all
    }
}

struct CreateDispatch;

impl MigrationName for CreateDispatch {
    fn name(&self) -> &str {
        "m0200_dispatch"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateDispatch {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // The registry replica: regions, sites, zones, assets and categories as last published.
        m.create_table(
            Table::create()
                .table("replica")
                .if_not_exists()
                .col(string_len("kind", 16))
                .col(string_len("id", 64))
                .col(integer("status"))
                .col(big_integer("version"))
                .col(blob("body"))
                .primary_key(Index::create().col("kind").col("id"))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("crew")
                .if_not_exists()
                .col(string_len("id", 64).primary_key())
                .col(string_len_uniq("code", 64))
                .col(boolean("active"))
                .col(big_integer("version"))
                .col(big_integer("rev"))
                .col(integer("capacity"))
                .col(integer("open_ticket_count"))
                .col(big_integer_null("last_assignment_us"))
                .col(big_integer("create_us"))
                .col(big_integer("update_us"))
                .col(blob("body"))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("ticket")
                .if_not_exists()
                .col(string_len("id", 64).primary_key())
                .col(string_len_uniq("code", 32))
                .col(string_len("site_id", 64))
                .col(string_len("region_path", 400))
                .col(string_len("category_id", 64))
                .col(integer("priority"))
                .col(integer("state"))
                .col(string_len("crew_id", 64))
                .col(integer("origin_kind"))
                .col(string_len_null("report_id", 64))
                .col(string_len_null("plan_id", 64))
                .col(big_integer_null("occurrence_us"))
                .col(boolean("unassignable"))
                .col(integer("sla_stage"))
                .col(integer("dimension"))
                .col(integer("perspective"))
                .col(big_integer("create_us"))
                .col(big_integer("resolve_due_us"))
                .col(big_integer_null("next_sla_us"))
                .col(big_integer("version"))
                .col(big_integer("history_len"))
                .col(blob("body"))
                .to_owned(),
        )
        .await?;
        // Every history entry of every ticket, in commit order: the history and the change log
        // WatchTickets tails (seq is the cursor).
        m.create_table(
            Table::create()
                .table("ticket_change")
                .if_not_exists()
                .col(big_pk_auto("seq"))
                .col(string_len("ticket_id", 64))
                .col(big_integer("sequence"))
                .col(string_len("site_id", 64))
                .col(string_len("region_path", 400))
                .col(string_len("crew_before", 64))
                .col(string_len("crew_after", 64))
                .col(integer("state_before"))
                .col(integer("state_after"))
                .col(blob("ticket"))
                .col(blob("transition"))
                .to_owned(),
        )
        .await?;
        for i in [
            index("crew_rev", "crew", &["rev"], false),
            index("ticket_report", "ticket", &["report_id"], true),
            index("ticket_plan_occurrence", "ticket", &["plan_id", "occurrence_us"], true),
            index("ticket_state_unassignable", "ticket", &["state", "unassignable"], false),
            index("ticket_crew_state", "ticket", &["crew_id", "state"], false),
            index("ticket_site", "ticket", &["site_id"], false),
            index("ticket_next_sla", "ticket", &["next_sla_us"], false),
            index("ticket_create", "ticket", &["create_us", "id"], false),
            index("ticket_change_ticket", "ticket_change", &["ticket_id", "sequence"], true),
        ] {
            m.create_index(i).await?;
        }
        Ok(())
    }
}

struct CreateWorkPlans;

impl MigrationName for CreateWorkPlans {
    fn name(&self) -> &str {
        "m0201_work_plans"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateWorkPlans {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("work_plan")
                .if_not_exists()
                .col(string_len("id", 64).primary_key())
                .col(string_len_uniq("code", 64))
                .col(string_len("site_id", 64))
                .col(integer("kind"))
                .col(string_len("category_id", 64))
                .col(boolean("active"))
                // When the ticket of the next occurrence is due (the occurrence less create_ahead).
                .col(big_integer_null("next_due_us"))
                .col(big_integer("version"))
                .col(big_integer("create_us"))
                .col(big_integer("update_us"))
                .col(blob("body"))
                .to_owned(),
        )
        .await?;
        m.create_index(index("work_plan_next_due", "work_plan", &["active", "next_due_us"], false)).await
    }
}

struct CreateTicketNumbers;

impl MigrationName for CreateTicketNumbers {
    fn name(&self) -> &str {
        "m0202_ticket_numbers"
    }
}

/// The last ticket number issued per day, so a new code is one row's increment instead of a
/// count of the day's tickets. A day without a row continues from its tickets' count.
#[async_trait::async_trait]
impl MigrationTrait for CreateTicketNumbers {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("ticket_number")
                .if_not_exists()
                .col(string_len("day", 8).primary_key())
                .col(big_integer("issued"))
                .to_owned(),
        )
        .await
    }
}
