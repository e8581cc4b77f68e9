//! When a crew works: weekly shifts in its local time zone, and absolute on-call periods.

use super::time::{duration_micros, micros, MINUTE_US};
use chrono::{Datelike, Duration, NaiveDateTime, TimeZone};
use chrono_tz::Tz;
use flywheel_proto::flywheel::dispatch::v1::{Crew, OnCallPeriod, WeeklyShift};

/// Whether one of `shifts` covers the instant `now_us`, read in the time zone `zone`.
pub fn on_shift(zone: &str, shifts: &[WeeklyShift], now_us: i64) -> bool {
    let Ok(tz) = zone.parse::<Tz>() else { return false };
    let Some(utc) = chrono::DateTime::from_timestamp_micros(now_us) else { return false };
    let local = tz.from_utc_datetime(&utc.naive_utc()).naive_local();
    // A shift lasts at most a day, so only those starting today or yesterday can cover now.
    (0..=1).any(|days_back| {
        let day = local.date() - Duration::days(days_back);
        shifts.iter().any(|shift| {
            if day.weekday().number_from_monday() as i32 != shift.weekday {
                return false;
            }
            let start: NaiveDateTime = day.and_hms_opt(0, 0, 0).unwrap_or_default()
                + Duration::minutes(i64::from(shift.start_minute_of_day));
            let length = shift.duration.as_ref().map(duration_micros).unwrap_or(0);
            let end = start + Duration::microseconds(length);
            start <= local && local < end
        })
    })
}

/// Whether one of `periods` covers `now_us`.
pub fn on_call(periods: &[OnCallPeriod], now_us: i64) -> bool {
    periods.iter().any(|p| {
        let start = p.start_time.as_ref().map(micros).unwrap_or(i64::MAX);
        let end = p.end_time.as_ref().map(micros).unwrap_or(i64::MIN);
        start <= now_us && now_us < end
    })
}

/// A crew's duty at `now_us`: (on shift, on call).
pub fn duty(crew: &Crew, now_us: i64) -> (bool, bool) {
    (on_shift(&crew.time_zone, &crew.shifts, now_us), on_call(&crew.on_call_periods, now_us))
}

/// Minutes as a shift length.
pub fn minutes(n: i64) -> prost_types::Duration {
    super::time::duration(n * MINUTE_US)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::time::timestamp;
    use flywheel_proto::flywheel::dispatch::v1::Weekday;

    /// 2025-03-03 is a Monday; Shanghai is UTC+8 all year.
    fn shanghai(day: u32, hour: u32, minute: u32) -> i64 {
        chrono_tz::Asia::Shanghai
            .with_ymd_and_hms(2025, 3, day, hour, minute, 0)
            .unwrap()
            .timestamp_micros()
    }

    fn shift(weekday: Weekday, start_hour: i32, hours: i64) -> WeeklyShift {
        WeeklyShift { weekday: weekday as i32, start_minute_of_day: start_hour * 60, duration: Some(minutes(hours * 60)) }
    }

    #[test]
    fn shifts_in_local_time() {
        let day = [shift(Weekday::Monday, 8, 9)];
        let cases = [
            (shanghai(3, 7, 59), false),
            (shanghai(3, 8, 0), true),
            (shanghai(3, 16, 59), true),
            (shanghai(3, 17, 0), false),
            (shanghai(4, 9, 0), false),
        ];
        for (now, expected) in cases {
            assert_eq!(on_shift("Asia/Shanghai", &day, now), expected, "{now}");
        }
        assert!(!on_shift("Not/AZone", &day, shanghai(3, 9, 0)));
    }

    #[test]
    fn a_night_shift_runs_past_midnight() {
        let night = [shift(Weekday::Sunday, 22, 8)];
        assert!(on_shift("Asia/Shanghai", &night, shanghai(2, 23, 0)));
        assert!(on_shift("Asia/Shanghai", &night, shanghai(3, 5, 59)));
        assert!(!on_shift("Asia/Shanghai", &night, shanghai(3, 6, 0)));
    }

    #[test]
    fn on_call_periods_are_half_open() {
        let p = [OnCallPeriod {
            start_time: Some(timestamp(100)),
            end_time: Some(timestamp(200)),
            note: String::new(),
        }];
        assert!(!on_call(&p, 99));
        assert!(on_call(&p, 100));
        assert!(!on_call(&p, 200));
    }
}
