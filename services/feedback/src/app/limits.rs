//! The filing rate limits as windowed counters (see `domain::rate`): a filing transaction reads
//! its scopes' counters first and adds its filings to them last, so a busy channel's counter row
//! is locked only from that last statement to the commit.

use crate::domain::rate::{HOUR, MINUTE, Window};
use crate::settings::Settings;
use crate::store::{entities::rate_count, rate};
use flywheel_runtime::{Error, Result};
use sea_orm::DatabaseTransaction;
use std::collections::HashMap;

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

impl Limit {
    /// The turn a filing takes before reading this limit (`flywheel_runtime::db::take_turns`)
    /// when it is counted exactly, in one row: a resident's. A channel's shards are read without
    /// one, so concurrent filings may pass it by a few.
    pub(super) fn turn(&self) -> Option<&str> {
        (self.shards == 1).then_some(self.scope.as_str())
    }
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

/// The counters of a set of limits, read once: filings are admitted against them in memory,
/// each seeing the ones admitted before it, and all are counted in one statement at the end.
pub(super) struct Counters {
    now_us: i64,
    /// Filings per (scope, window start): read from the store, plus those admitted since.
    counts: HashMap<(String, i64), u64>,
    /// What the admitted filings add, per (scope, window start, shard).
    added: HashMap<(String, i64, i32), (i64, i64)>,
    /// A pruning limit's current window was still empty: a new window began, older ones expired.
    prune: bool,
}

/// Reads the current and previous windows of every limit in `limits` at `now_us` (one query).
pub(super) async fn load<'a>(
    txn: &DatabaseTransaction,
    limits: impl IntoIterator<Item = &'a Limit>,
    now_us: i64,
) -> Result<Counters> {
    let mut wanted: Vec<(&str, [i64; 2])> = limits
        .into_iter()
        .map(|l| (l.scope.as_str(), [l.window.start(now_us), l.window.previous_start(now_us)]))
        .collect();
    wanted.sort_unstable();
    wanted.dedup();
    let rows = if wanted.is_empty() { Vec::new() } else { rate::counts(txn, &wanted).await? };
    let counts = rows.into_iter().map(|r| ((r.scope, r.window_us), u64::try_from(r.count).unwrap_or(0))).collect();
    Ok(Counters { now_us, counts, added: HashMap::new(), prune: false })
}

impl Counters {
    /// RESOURCE_EXHAUSTED when one more filing would exceed any of `limits` (all of them read
    /// by [`load`]); otherwise counts the filing against each.
    pub(super) fn admit(&mut self, limits: &[Limit]) -> Result<()> {
        let now = self.now_us;
        let count = |c: &Self, l: &Limit, window_us: i64| c.counts.get(&(l.scope.clone(), window_us)).copied().unwrap_or(0);
        for l in limits {
            let (current, previous) = (count(self, l, l.window.start(now)), count(self, l, l.window.previous_start(now)));
            if !l.window.allows(l.max, current, previous, now) {
                return Err(Error::ResourceExhausted(l.refusal.clone()));
            }
        }
        for l in limits {
            let window_us = l.window.start(now);
            let current = self.counts.entry((l.scope.clone(), window_us)).or_insert(0);
            self.prune |= l.prunes && *current == 0;
            *current += 1;
            // One shard per scope and batch: concurrent batches seldom pick the same row.
            let shard = self.added.keys().find(|(s, w, _)| *s == l.scope && *w == window_us).map(|k| k.2);
            let shard = shard.unwrap_or_else(|| (uuid::Uuid::new_v4().as_u128() % l.shards) as i32);
            self.added.entry((l.scope.clone(), window_us, shard)).or_insert((0, l.window.expiry(window_us))).0 += 1;
        }
        Ok(())
    }

    /// Writes what the admitted filings add; the last statement of the filing before its
    /// events, so a busy channel's counter row is locked only from here to the commit.
    pub(super) async fn count(self, txn: &DatabaseTransaction) -> Result<()> {
        if self.added.is_empty() {
            return Ok(());
        }
        if self.prune {
            rate::prune(txn, self.now_us).await?;
        }
        let rows = self
            .added
            .into_iter()
            .map(|((scope, window_us, shard), (count, expire_us))| rate_count::Model { scope, window_us, shard, count, expire_us })
            .collect();
        Ok(rate::add(txn, rows).await?)
    }
}
