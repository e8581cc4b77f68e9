//! Database connection and migrations, the same for SQLite and PostgreSQL.

use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr,
    SqliteTransactionMode, TransactionOptions, TransactionTrait,
};
use sea_orm_migration::MigratorTrait;
use std::time::Duration;

/// Connects and brings the schema up to date with `M`'s migrations.
pub async fn connect_and_migrate<M: MigratorTrait>(url: &str) -> Result<DatabaseConnection, DbErr> {
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .connect_timeout(Duration::from_secs(10))
        .acquire_timeout(Duration::from_secs(10))
        .sqlx_logging(false);
    if url.starts_with("sqlite:") {
        // One writer at a time is SQLite's model; a small pool avoids lock contention.
        options.max_connections(4).min_connections(1);
    } else {
        options.max_connections(16).min_connections(1);
    }
    let db = Database::connect(options).await?;
    M::up(&db, None).await?;
    Ok(db)
}

/// Begins a transaction that will write. On SQLite it takes the write lock up front
/// (`BEGIN IMMEDIATE`), so two writers queue on the busy timeout instead of failing with
/// "database is locked" when a read lock cannot be upgraded.
pub async fn begin_write(db: &DatabaseConnection) -> Result<DatabaseTransaction, DbErr> {
    match db.get_database_backend() {
        DbBackend::Sqlite => {
            db.begin_with_options(TransactionOptions {
                sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
                ..Default::default()
            })
            .await
        }
        _ => db.begin().await,
    }
}

/// Microseconds since the Unix epoch: how every table stores instants, alike on both backends.
pub fn now_micros() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

/// Makes the PostgreSQL transactions that name one of the same `turns` run one after another from
/// here until they end, so those that must see each other's writes (a count, the next position in
/// a log, a number handed out) do; SQLite write transactions are serial already. Turns are names
/// within one service's database, held as transaction-scoped advisory locks: unlike a table lock,
/// they wait for no reader and for no autovacuum. One call takes its turns in one order (by key),
/// so transactions never wait for each other in a cycle through one call's turns.
pub async fn take_turns<S: AsRef<str>>(conn: &impl ConnectionTrait, turns: &[S]) -> Result<(), DbErr> {
    lock_turns(conn, turns, "pg_advisory_xact_lock").await
}

/// Like [`take_turns`], but shared: transactions sharing a turn run together, while one that
/// takes it with [`take_turns`] waits for them all to end, and they (and later sharers) for it.
pub async fn share_turns<S: AsRef<str>>(conn: &impl ConnectionTrait, turns: &[S]) -> Result<(), DbErr> {
    lock_turns(conn, turns, "pg_advisory_xact_lock_shared").await
}

async fn lock_turns<S: AsRef<str>>(conn: &impl ConnectionTrait, turns: &[S], lock: &str) -> Result<(), DbErr> {
    if conn.get_database_backend() != DbBackend::Postgres || turns.is_empty() {
        return Ok(());
    }
    let mut keys: Vec<i32> = turns.iter().map(|t| turn_key(t.as_ref())).collect();
    keys.sort_unstable();
    keys.dedup();
    let locks: Vec<String> = keys.iter().map(|k| format!("{lock}({TURN_LOCK_CLASS}, {k})")).collect();
    conn.execute_unprepared(&format!("SELECT {}", locks.join(", "))).await?;
    Ok(())
}

/// The advisory lock class of turns ("FWTN" in ASCII, clear of other keys).
const TURN_LOCK_CLASS: i32 = 0x4657_544E;

/// A turn as a lock key: FNV-1a, stable across processes and releases; two turns sharing a key
/// only wait for each other needlessly.
fn turn_key(turn: &str) -> i32 {
    let hash = turn.bytes().fold(0x811c_9dc5_u32, |hash, byte| (hash ^ u32::from(byte)).wrapping_mul(0x0100_0193));
    hash as i32
}
