//! The rate-limit rule: a sliding window estimated from two fixed windows, so a submission reads
//! two counters instead of counting every report of the last window.
//!
//! Time is cut into fixed windows of the limit's length (minutes for a channel, hours for a
//! resident) aligned on the Unix epoch. At instant `now`, `elapsed` into the current window, the
//! estimate of what was filed in the last window length is
//! `current + ⌈previous × (length − elapsed) / length⌉`: the previous window's count weighted by
//! the share of it still inside the sliding window, as if its filings were spread evenly, rounded
//! up. A new filing is refused when the estimate is at the limit already.

/// A fixed-window counter's length, in microseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window(pub i64);

pub const MINUTE: Window = Window(60_000_000);
pub const HOUR: Window = Window(3_600_000_000);

impl Window {
    /// The start of the fixed window holding `now_us`.
    pub fn start(self, now_us: i64) -> i64 {
        now_us.div_euclid(self.0) * self.0
    }

    /// The start of the window before the one holding `now_us`.
    pub fn previous_start(self, now_us: i64) -> i64 {
        self.start(now_us) - self.0
    }

    /// When a window starting at `start_us` stops being the current or the previous one.
    pub fn expiry(self, start_us: i64) -> i64 {
        start_us + 2 * self.0
    }

    /// The estimated count over the sliding window ending at `now_us`.
    pub fn estimate(self, current: u64, previous: u64, now_us: i64) -> u64 {
        let remaining = (self.0 - (now_us - self.start(now_us))) as u128;
        let weighted = (u128::from(previous) * remaining).div_ceil(self.0 as u128);
        current.saturating_add(u64::try_from(weighted).unwrap_or(u64::MAX))
    }

    /// Whether one more filing is allowed under `limit` per window length.
    pub fn allows(self, limit: u64, current: u64, previous: u64, now_us: i64) -> bool {
        self.estimate(current, previous, now_us) < limit
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const M: i64 = MINUTE.0;

    #[test]
    fn windows_are_aligned_on_the_epoch() {
        assert_eq!(MINUTE.start(10 * M + 5), 10 * M);
        assert_eq!(MINUTE.start(10 * M), 10 * M);
        assert_eq!(MINUTE.previous_start(10 * M + 5), 9 * M);
        assert_eq!(MINUTE.expiry(10 * M), 12 * M);
        assert_eq!(HOUR.start(HOUR.0 * 3 + 1), HOUR.0 * 3);
    }

    #[test]
    fn the_previous_window_counts_by_the_share_still_inside() {
        // At the start of a window the whole previous window is inside the sliding one.
        assert_eq!(MINUTE.estimate(0, 10, 10 * M), 10);
        // A quarter in: three quarters of the previous window's 10 (7.5) round up to 8.
        assert_eq!(MINUTE.estimate(2, 10, 10 * M + M / 4), 2 + 8);
        // The last microsecond: a sliver of the previous window still counts as one.
        assert_eq!(MINUTE.estimate(4, 10, 11 * M - 1), 4 + 1);
        assert_eq!(MINUTE.estimate(4, 0, 11 * M - 1), 4);
    }

    #[test]
    fn a_filing_is_refused_once_the_estimate_reaches_the_limit() {
        assert!(MINUTE.allows(5, 4, 0, 10 * M));
        assert!(!MINUTE.allows(5, 5, 0, 10 * M));
        // Filings just before a window boundary still count just after it.
        assert!(!MINUTE.allows(5, 2, 3, 10 * M + 1));
        // Half a window later half of them have slid out.
        assert!(MINUTE.allows(5, 2, 3, 10 * M + M / 2 + 1));
    }

    #[test]
    fn huge_counts_do_not_overflow() {
        assert_eq!(HOUR.estimate(u64::MAX, u64::MAX, 0), u64::MAX);
    }
}
