//! When a work plan's occurrences fall: matching days (daily, weekly or monthly, every `interval`
//! counted from the start) times the local times of day, in the plan's time zone.

use super::time::{micros, MINUTE_US};
use chrono::{Datelike, Duration, LocalResult, NaiveDate, NaiveDateTime, TimeZone};
use chrono_tz::Tz;
use flywheel_proto::flywheel::dispatch::v1::{Recurrence, RecurrenceFrequency};
use flywheel_runtime::Violations;
use std::collections::HashSet;

/// How far ahead the search for the next occurrence looks before giving up.
const SEARCH_DAYS: i64 = 366 * 40;

pub fn validate(v: &mut Violations, field: &str, r: &Recurrence) {
    let freq = RecurrenceFrequency::try_from(r.frequency).unwrap_or(RecurrenceFrequency::Unspecified);
    v.check(freq != RecurrenceFrequency::Unspecified, format!("{field}.frequency"), "is required");
    v.check((0..=366).contains(&r.interval), format!("{field}.interval"), "must be within 1..366 (0 means 1)");
    let unique = |xs: &[i32]| xs.iter().collect::<HashSet<_>>().len() == xs.len();
    if freq == RecurrenceFrequency::Weekly {
        let ok = !r.weekdays.is_empty() && unique(&r.weekdays) && r.weekdays.iter().all(|d| (1..=7).contains(d));
        v.check(ok, format!("{field}.weekdays"), "weekly plans need distinct weekdays");
    } else {
        v.check(r.weekdays.is_empty(), format!("{field}.weekdays"), "only for weekly plans");
    }
    if freq == RecurrenceFrequency::Monthly {
        let ok = !r.month_days.is_empty() && unique(&r.month_days) && r.month_days.iter().all(|d| (1..=31).contains(d) || *d == -1);
        v.check(ok, format!("{field}.month_days"), "monthly plans need distinct days 1..31 or -1");
    } else {
        v.check(r.month_days.is_empty(), format!("{field}.month_days"), "only for monthly plans");
    }
    let m = &r.start_minutes_of_day;
    let ok = (1..=48).contains(&m.len()) && unique(m) && m.iter().all(|x| (0..1440).contains(x));
    v.check(ok, format!("{field}.start_minutes_of_day"), "needs 1..48 distinct minutes within 0..1439");
    v.check(r.time_zone.parse::<Tz>().is_ok(), format!("{field}.time_zone"), "must be an IANA time zone name");
    v.check(r.start_time.is_some(), format!("{field}.start_time"), "is required");
    if let (Some(s), Some(e)) = (&r.start_time, &r.end_time) {
        v.check(micros(e) > micros(s), format!("{field}.end_time"), "must be after start_time");
    }
}

fn months(d: NaiveDate) -> i64 {
    i64::from(d.year()) * 12 + i64::from(d.month0())
}

fn monday(d: NaiveDate) -> NaiveDate {
    d - Duration::days(i64::from(d.weekday().num_days_from_monday()))
}

fn last_day_of_month(d: NaiveDate) -> bool {
    (d + Duration::days(1)).month() != d.month()
}

fn day_matches(r: &Recurrence, anchor: NaiveDate, day: NaiveDate) -> bool {
    let interval = i64::from(r.interval.max(1));
    match RecurrenceFrequency::try_from(r.frequency).unwrap_or(RecurrenceFrequency::Unspecified) {
        RecurrenceFrequency::Daily => (day - anchor).num_days().rem_euclid(interval) == 0,
        RecurrenceFrequency::Weekly => {
            let weeks = (monday(day) - monday(anchor)).num_days() / 7;
            let weekday = day.weekday().number_from_monday() as i32;
            weeks.rem_euclid(interval) == 0 && r.weekdays.contains(&weekday)
        }
        RecurrenceFrequency::Monthly => {
            let dom = day.day() as i32;
            (months(day) - months(anchor)).rem_euclid(interval) == 0
                && (r.month_days.contains(&dom) || (r.month_days.contains(&-1) && last_day_of_month(day)))
        }
        RecurrenceFrequency::Unspecified => false,
    }
}

/// A local wall-clock time as an instant: an ambiguous time at its first instant, a time
/// skipped by a daylight-saving change moved forward by the (one hour) gap.
fn instant(tz: Tz, local: NaiveDateTime) -> Option<i64> {
    match tz.from_local_datetime(&local) {
        LocalResult::Single(t) => Some(t.timestamp_micros()),
        LocalResult::Ambiguous(a, _) => Some(a.timestamp_micros()),
        LocalResult::None => tz.from_local_datetime(&(local + Duration::hours(1))).earliest().map(|t| t.timestamp_micros()),
    }
}

/// The first occurrence at or after `from_us` (and within start..end), if any.
pub fn next_occurrence(r: &Recurrence, from_us: i64) -> Option<i64> {
    let tz: Tz = r.time_zone.parse().ok()?;
    let start = micros(r.start_time.as_ref()?);
    let end = r.end_time.as_ref().map(micros).unwrap_or(i64::MAX);
    let from = from_us.max(start);
    let local_of = |us: i64| chrono::DateTime::from_timestamp_micros(us).map(|t| tz.from_utc_datetime(&t.naive_utc()).date_naive());
    let anchor = local_of(start)?;
    let mut minutes = r.start_minutes_of_day.clone();
    minutes.sort_unstable();
    // A day earlier, in case a time zone offset puts an occurrence of the previous local day later.
    let first = local_of(from)? - Duration::days(1);
    for offset in 0..SEARCH_DAYS {
        let day = first + Duration::days(offset);
        if day < anchor || !day_matches(r, anchor, day) {
            continue;
        }
        let midnight = day.and_hms_opt(0, 0, 0)?;
        for m in &minutes {
            let at = instant(tz, midnight + Duration::microseconds(i64::from(*m) * MINUTE_US))?;
            if at >= end {
                return None;
            }
            if at >= from {
                return Some(at);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::time::timestamp;
    use flywheel_proto::flywheel::dispatch::v1::Weekday;

    fn weekday(w: Weekday) -> i32 {
        w as i32
    }

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> i64 {
        chrono::Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap().timestamp_micros()
    }

    fn rec(freq: RecurrenceFrequency, interval: i32, minutes: &[i32]) -> Recurrence {
        Recurrence {
            frequency: freq as i32,
            interval,
            start_minutes_of_day: minutes.to_vec(),
            time_zone: "UTC".into(),
            start_time: Some(timestamp(utc(2025, 3, 3, 0, 0))), // a Monday
            ..Default::default()
        }
    }

    /// The first `n` occurrences from `from`.
    fn take(r: &Recurrence, from: i64, n: usize) -> Vec<i64> {
        let mut out = vec![];
        let mut at = from;
        while out.len() < n {
            let Some(next) = next_occurrence(r, at) else { break };
            out.push(next);
            at = next + 1;
        }
        out
    }

    #[test]
    fn daily_every_other_day_twice_a_day() {
        let r = rec(RecurrenceFrequency::Daily, 2, &[720, 480]);
        assert_eq!(
            take(&r, 0, 4),
            [utc(2025, 3, 3, 8, 0), utc(2025, 3, 3, 12, 0), utc(2025, 3, 5, 8, 0), utc(2025, 3, 5, 12, 0)]
        );
        assert_eq!(next_occurrence(&r, utc(2025, 3, 3, 12, 1)), Some(utc(2025, 3, 5, 8, 0)));
    }

    #[test]
    fn weekly_on_given_days_every_second_week() {
        let mut r = rec(RecurrenceFrequency::Weekly, 2, &[540]);
        r.weekdays = vec![weekday(Weekday::Friday), weekday(Weekday::Monday)];
        assert_eq!(take(&r, 0, 3), [utc(2025, 3, 3, 9, 0), utc(2025, 3, 7, 9, 0), utc(2025, 3, 17, 9, 0)]);
    }

    #[test]
    fn monthly_skips_missing_days_and_knows_the_last_one() {
        let mut r = rec(RecurrenceFrequency::Monthly, 1, &[0]);
        r.month_days = vec![31, -1];
        assert_eq!(take(&r, 0, 3), [utc(2025, 3, 31, 0, 0), utc(2025, 4, 30, 0, 0), utc(2025, 5, 31, 0, 0)]);
    }

    #[test]
    fn end_time_and_local_time_zones() {
        let mut r = rec(RecurrenceFrequency::Daily, 1, &[480]);
        r.end_time = Some(timestamp(utc(2025, 3, 4, 8, 0)));
        assert_eq!(take(&r, 0, 5), [utc(2025, 3, 3, 8, 0)]);
        let mut sh = rec(RecurrenceFrequency::Daily, 1, &[480]);
        sh.time_zone = "Asia/Shanghai".into();
        assert_eq!(next_occurrence(&sh, utc(2025, 3, 3, 0, 0)), Some(utc(2025, 3, 3, 0, 0)), "08:00 in Shanghai is midnight UTC");
        assert_eq!(next_occurrence(&sh, utc(2025, 3, 3, 0, 1)), Some(utc(2025, 3, 4, 0, 0)));
    }

    #[test]
    fn a_skipped_local_time_moves_forward_by_the_gap() {
        // New York skipped 02:00..03:00 on 2025-03-09.
        let mut r = rec(RecurrenceFrequency::Daily, 1, &[150]);
        r.time_zone = "America/New_York".into();
        assert_eq!(next_occurrence(&r, utc(2025, 3, 9, 0, 0)), Some(utc(2025, 3, 9, 7, 30)), "03:30 EDT");
    }

    #[test]
    fn recurrences_are_checked() {
        let mut v = Violations::new();
        let bad = Recurrence { frequency: 2, interval: 400, start_minutes_of_day: vec![1440], time_zone: "X".into(), ..Default::default() };
        validate(&mut v, "plan.recurrence", &bad);
        let fields = crate::domain::violated_fields(v.finish(()));
        assert_eq!(
            fields,
            ["plan.recurrence.interval", "plan.recurrence.weekdays", "plan.recurrence.start_minutes_of_day", "plan.recurrence.time_zone", "plan.recurrence.start_time"]
        );
    }
}
