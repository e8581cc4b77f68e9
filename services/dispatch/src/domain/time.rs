//! Protobuf timestamps and durations as the microseconds every table stores.

use prost_types::{Duration, Timestamp};

pub const MINUTE_US: i64 = 60_000_000;
pub const HOUR_US: i64 = 60 * MINUTE_US;
pub const DAY_US: i64 = 24 * HOUR_US;

pub fn timestamp(us: i64) -> Timestamp {
    Timestamp { seconds: us.div_euclid(1_000_000), nanos: (us.rem_euclid(1_000_000) * 1000) as i32 }
}

pub fn micros(ts: &Timestamp) -> i64 {
    ts.seconds.saturating_mul(1_000_000).saturating_add(i64::from(ts.nanos) / 1000)
}

pub fn opt_micros(ts: Option<&Timestamp>) -> Option<i64> {
    ts.map(micros)
}

pub fn duration(us: i64) -> Duration {
    Duration { seconds: us / 1_000_000, nanos: ((us % 1_000_000) * 1000) as i32 }
}

pub fn duration_micros(d: &Duration) -> i64 {
    d.seconds.saturating_mul(1_000_000).saturating_add(i64::from(d.nanos) / 1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        for us in [0, 1, -1, 1_700_000_000_123_456, -1_700_000_000_123_456] {
            assert_eq!(micros(&timestamp(us)), us);
            assert_eq!(duration_micros(&duration(us)), us);
        }
    }
}
