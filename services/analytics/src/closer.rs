//! Closes the rollup spans that have ended (`store::closing`): at start-up, then once a minute.
//! Until a span is closed a query reads its hours instead, so the minute costs no freshness.

use crate::store::closing;
use chrono_tz::Tz;
use flywheel_runtime::db::now_micros;
use sea_orm::DatabaseConnection;
use std::time::Duration;
use tokio::sync::watch;

const EVERY: Duration = Duration::from_secs(60);

pub async fn run(db: DatabaseConnection, tz: Tz, mut stop: watch::Receiver<bool>) {
    loop {
        if let Err(e) = closing::close(&db, tz, now_micros()).await {
            tracing::warn!(error = %e, "closing the rollup spans that ended failed");
        }
        tokio::select! {
            _ = tokio::time::sleep(EVERY) => {}
            _ = stop.wait_for(|stopped| *stopped) => return,
        }
    }
}
