//! When the rows of quarters, days and weeks are written: the rollup rows of every level and the
//! per-cell day rows. A query reads such a row only once its span has ended (one ending later
//! does not fit a range that ends now), so a batch adds to the hour rows alone while the coarser
//! spans are open, and each coarser span's rows are set once, when it closes, from the closed
//! spans of the tier below (a quarter from its hours, a day from its quarters, a week from its
//! days; the per-cell day rows from the day's hour rows). A batch with facts of a span closed
//! already (a late event, a replay) adds to its rows at once, as before.
//!
//! One instant, kept in `projection_meta`, says how far spans have closed. A closing takes the
//! turn that every batch shares while it writes facts, so it waits for the batches in progress
//! and sees all they wrote, and later batches see the new instant.

use super::{days, levels, meta, set_meta};
use crate::domain::time::{ALL_CLOSED, Tier};
use chrono_tz::Tz;
use flywheel_runtime::db::{begin_write, share_turns, take_turns};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr};

/// The key of the instant by which every span has closed: the coarser tiers' rows (rollup and
/// day rows) of spans that end by it are complete. (Named when it kept the rollup rows alone.)
pub const META_ROLLUPS_CLOSED: &str = "rollups_closed_us";

const TURN: &str = "kpi_rollup_closing";

/// The instant by which every span has closed ([`ALL_CLOSED`] when none is kept: every batch
/// then writes every tier).
pub async fn closed_us(db: &impl ConnectionTrait) -> Result<i64, DbErr> {
    Ok(meta(db, META_ROLLUPS_CLOSED).await?.unwrap_or(ALL_CLOSED))
}

/// For a batch about to write facts: waits for a closing in progress, keeps the next one out
/// until the batch's transaction ends, and returns the instant spans have closed by.
pub async fn hold(db: &impl ConnectionTrait) -> Result<i64, DbErr> {
    share_turns(db, &[TURN]).await?;
    closed_us(db).await
}

/// Closes every span that ended by `now_us`: sets its rows from the tier below, finest tier
/// first, in one transaction. Where no instant is kept yet (every batch so far wrote every
/// tier), starts keeping one at `now_us`.
pub async fn close(db: &DatabaseConnection, tz: Tz, now_us: i64) -> Result<(), DbErr> {
    // Days and weeks end where quarters do: until the kept instant's quarter ends there is
    // nothing to close, so most runs neither take the turn nor hold the batches up.
    let ended = |closed: i64| Tier::Quarter.span_of(tz, closed).end_us <= now_us;
    if meta(db, META_ROLLUPS_CLOSED).await?.is_some_and(|closed| !ended(closed)) {
        return Ok(());
    }
    let txn = begin_write(db).await?;
    take_turns(&txn, &[TURN]).await?;
    let closed = match meta(&txn, META_ROLLUPS_CLOSED).await? {
        Some(closed) if !ended(closed) => return Ok(()),
        Some(closed) => closed,
        None => now_us,
    };
    for tier in [Tier::Quarter, Tier::Day, Tier::Week] {
        let mut t = closed;
        loop {
            let span = tier.span_of(tz, t);
            if span.end_us > now_us {
                break;
            }
            levels::close_span(&txn, tier, span).await?;
            if tier == Tier::Day {
                days::close_day(&txn, span).await?;
            }
            t = span.end_us;
        }
    }
    set_meta(&txn, META_ROLLUPS_CLOSED, Some(now_us)).await?;
    txn.commit().await
}

