//! The filing rate limits as windowed counters (see `domain::rate`): a filing transaction reads
//! its scopes' counters first and adds itself to them last, so a busy channel's counter row is
//! locked only from that last statement to the commit.

use crate::domain::rate::{HOUR, MINUTE, Window};
use crate::settings::Settings;
use crate::store::{entities::rate_count, rate};
use flywheel_runtime::{Error, Result};
use sea_orm::DatabaseTransaction;

/// Shards of a channel's counter: every filing of the channel adds to one at random, so
/// concurrent filings seldom wait on each other's row lock until commit (16 still queued at a
/// few hundred filings a second on PostgreSQL); a read sums them in the database.
const CHANNEL_SHARDS: u128 = 64;

/// One limit a filing is counted against.
pub(super) struct Limit {
    scope: String,
    window: Window,
    max: u64,
    shards: u128,
    /// Whether the first filing of a new window prunes every expired window: the channels', a
    /// few times a minute; a resident's first filing of an hour leaves it to them.
    prunes: bool,
    refusal: String,
}

/// Reports plus supports one resident may file per hour.
pub(super) fn per_resident(settings: &Settings, resident: &str) -> Limit {
    let max = settings.per_resident_per_hour;
    Limit {
        scope: format!("resident/{resident}"),
        window: HOUR,
        max,
        shards: 1,
        prunes: false,
        refusal: format!("at most {max} reports and supports per resident per hour; retry later"),
    }
}

/// Reports one channel may take per minute.
pub(super) fn per_channel(settings: &Settings, channel: i32) -> Limit {
    let max = settings.per_channel_per_minute;
    Limit {
        scope: format!("channel/{channel}"),
        window: MINUTE,
        max,
        shards: CHANNEL_SHARDS,
        prunes: true,
        refusal: format!("at most {max} reports per channel per minute; retry later"),
    }
}

/// The limits a filing passed, to count it against them.
pub(super) struct Passed<'a> {
    limits: &'a [Limit],
    now_us: i64,
    /// A pruning limit's current window was still empty: a new window began, older ones expired.
    prune: bool,
}

/// RESOURCE_EXHAUSTED when a filing at `now_us` would exceed any of `limits` (one query).
pub(super) async fn check<'a>(txn: &DatabaseTransaction, limits: &'a [Limit], now_us: i64) -> Result<Passed<'a>> {
    let wanted: Vec<(&str, [i64; 2])> = limits
        .iter()
        .map(|l| (l.scope.as_str(), [l.window.start(now_us), l.window.previous_start(now_us)]))
        .collect();
    let rows = rate::counts(txn, &wanted).await?;
    let mut prune = false;
    for l in limits {
        let count = |window_us: i64| -> u64 {
            let row = rows.iter().find(|r| r.scope == l.scope && r.window_us == window_us);
            row.map_or(0, |r| u64::try_from(r.count).unwrap_or(0))
        };
        let (current, previous) = (count(l.window.start(now_us)), count(l.window.previous_start(now_us)));
        if !l.window.allows(l.max, current, previous, now_us) {
            return Err(Error::ResourceExhausted(l.refusal.clone()));
        }
        prune |= l.prunes && current == 0;
    }
    Ok(Passed { limits, now_us, prune })
}

impl Passed<'_> {
    /// Counts the filing against every limit; the last statement of the filing before its events.
    pub(super) async fn count(self, txn: &DatabaseTransaction) -> Result<()> {
        if self.prune {
            rate::prune(txn, self.now_us).await?;
        }
        let rows = self
            .limits
            .iter()
            .map(|l| {
                let window_us = l.window.start(self.now_us);
                rate_count::Model {
                    scope: l.scope.clone(),
                    window_us,
                    shard: (uuid::Uuid::new_v4().as_u128() % l.shards) as i32,
                    count: 1,
                    expire_us: l.window.expiry(window_us),
                }
            })
            .collect();
        Ok(rate::add_one(txn, rows).await?)
    }
}
