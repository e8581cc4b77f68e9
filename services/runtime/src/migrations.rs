//! The runtime's own tables (outbox, inbox, idempotency keys). Every service lists these
//! migrations first in its migrator.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

/// `outbox`: events written with their state change, waiting to be published.
pub struct CreateOutbox;

impl MigrationName for CreateOutbox {
    fn name(&self) -> &str {
        "m0001_runtime_outbox"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateOutbox {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("outbox")
                    .if_not_exists()
                    .col(big_pk_auto("seq"))
                    .col(string_len_uniq("event_id", 64))
                    .col(string("subject"))
                    .col(string("source"))
                    .col(string("aggregate_id"))
                    .col(string("correlation_id"))
                    .col(big_integer("time_us"))
                    .col(blob("payload"))
                    .col(big_integer_null("published_us"))
                    .col(integer("attempts").default(0))
                    .col(text_null("last_error"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("outbox_unpublished")
                    .table("outbox")
                    .col("published_us")
                    .col("seq")
                    .if_not_exists()
                    .to_owned(),
            )
            .await
    }
}

/// `inbox`: the events each consumer has applied.
pub struct CreateInbox;

impl MigrationName for CreateInbox {
    fn name(&self) -> &str {
        "m0002_runtime_inbox"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateInbox {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("inbox")
                    .if_not_exists()
                    .col(string_len("consumer", 128))
                    .col(string_len("event_id", 64))
                    .col(string("subject"))
                    .col(big_integer("applied_us"))
                    .primary_key(Index::create().col("consumer").col("event_id"))
                    .to_owned(),
            )
            .await
    }
}

/// `idempotency_key`: the resource a client request id created (AIP-155).
pub struct CreateIdempotencyKeys;

impl MigrationName for CreateIdempotencyKeys {
    fn name(&self) -> &str {
        "m0003_runtime_idempotency_keys"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateIdempotencyKeys {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("idempotency_key")
                    .if_not_exists()
                    .col(string_len("scope", 128))
                    .col(string_len("request_id", 128))
                    .col(string("resource_id"))
                    .col(big_integer("created_us"))
                    .primary_key(Index::create().col("scope").col("request_id"))
                    .to_owned(),
            )
            .await
    }
}

/// The relay deletes each outbox row once JetStream acknowledges it (it used to mark it with
/// `published_us` and delete it ten minutes later): the rows already sent go, and so do the
/// column and the index that told them from the waiting ones.
pub struct DeleteSentOutboxRows;

impl MigrationName for DeleteSentOutboxRows {
    fn name(&self) -> &str {
        "m0004_runtime_outbox_sent_rows_deleted"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for DeleteSentOutboxRows {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_index(Index::drop().name("outbox_unpublished").table("outbox").to_owned()).await?;
        let sent = Query::delete().from_table("outbox").and_where(Expr::col("published_us").is_not_null()).to_owned();
        manager.exec_stmt(sent).await?;
        manager.alter_table(Table::alter().table("outbox").drop_column("published_us").to_owned()).await
    }
}

/// An index on `cols` of `table`, created only when missing.
pub fn index(name: &str, table: &'static str, cols: &[&'static str], unique: bool) -> IndexCreateStatement {
    let mut i = Index::create();
    i.name(name).table(table).if_not_exists();
    for c in cols {
        i.col(*c);
    }
    if unique {
        i.unique();
    }
    i.to_owned()
}

/// The runtime migrations, in order, for a service's migrator to list first.
pub fn all() -> Vec<Box<dyn MigrationTrait>> {
    vec![Box::new(CreateOutbox), Box::new(CreateInbox), Box::new(CreateIdempotencyKeys), Box::new(DeleteSentOutboxRows)]
}
