//! Time ranges and buckets. Facts are stored per UTC hour; a bucket of a day, week or month in a
//! zone is a run of whole hours, because only zones with whole-hour offsets are accepted.

use chrono::{DateTime, Datelike, Days, Months, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use std::collections::BTreeMap;

pub const HOUR_US: i64 = 3_600_000_000;

/// The most buckets one answer may have.
pub const MAX_BUCKETS: usize = 2000;

/// The size of a time bucket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bucket {
    Hour,
    Day,
    Week,
    Month,
}

/// A half-open range of microseconds, [start, end).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Span {
    pub start_us: i64,
    pub end_us: i64,
}

impl Span {
    pub fn contains(&self, us: i64) -> bool {
        self.start_us <= us && us < self.end_us
    }

    /// The span of the same length just before this one.
    pub fn previous(&self) -> Span {
        Span { start_us: 2 * self.start_us - self.end_us, end_us: self.start_us }
    }
}

pub fn hour_floor(us: i64) -> i64 {
    us.div_euclid(HOUR_US) * HOUR_US
}

fn hour_ceil(us: i64) -> i64 {
    hour_floor(us + HOUR_US - 1)
}

/// Rounds a requested range out to whole hours; `None` when it is empty after rounding.
pub fn effective_span(start_us: i64, end_us: i64) -> Option<Span> {
    let span = Span { start_us: hour_floor(start_us), end_us: hour_ceil(end_us) };
    (span.start_us < span.end_us && start_us < end_us).then_some(span)
}

/// Parses an IANA zone name; refuses zones whose UTC offset is ever not whole hours in the
/// years buckets are likely to cover (hour facts could not be split at their boundaries).
pub fn parse_zone(name: &str) -> Result<Tz, &'static str> {
    let tz: Tz = name.parse().map_err(|_| "not a known IANA time zone")?;
    for year in 2000..=2040 {
        for month in [1, 4, 7, 10] {
            let instant = Utc.with_ymd_and_hms(year, month, 1, 0, 0, 0).single();
            let Some(instant) = instant else { continue };
            let offset = chrono::Offset::fix(&tz.offset_from_utc_datetime(&instant.naive_utc()));
            if offset.local_minus_utc() % 3600 != 0 {
                return Err("the zone's UTC offset is not a whole number of hours");
            }
        }
    }
    Ok(tz)
}

/// The instant of local midnight starting `date` in `tz` (the first instant of the day when
/// midnight itself is skipped by a daylight-saving change).
fn local_midnight_us(tz: Tz, date: NaiveDate) -> i64 {
    let mut naive = date.and_hms_opt(0, 0, 0).unwrap_or_default();
    for _ in 0..4 {
        if let Some(t) = tz.from_local_datetime(&naive).earliest() {
            return t.timestamp_micros();
        }
        naive += chrono::Duration::hours(1);
    }
    naive.and_utc().timestamp_micros()
}

fn local_date(tz: Tz, us: i64) -> NaiveDate {
    DateTime::from_timestamp_micros(us).unwrap_or_default().with_timezone(&tz).date_naive()
}

/// The first day of the bucket containing `date`.
fn bucket_first_day(bucket: Bucket, date: NaiveDate) -> NaiveDate {
    match bucket {
        Bucket::Hour | Bucket::Day => date,
        Bucket::Week => date - Days::new(u64::from(date.weekday().num_days_from_monday())),
        Bucket::Month => date.with_day(1).unwrap_or(date),
    }
}

fn next_first_day(bucket: Bucket, date: NaiveDate) -> NaiveDate {
    match bucket {
        Bucket::Hour | Bucket::Day => date + Days::new(1),
        Bucket::Week => date + Days::new(7),
        Bucket::Month => date + Months::new(1),
    }
}

/// The buckets covering `span` in `tz`, oldest first, clipped to the span; an error when there
/// would be more than [`MAX_BUCKETS`].
pub fn buckets(span: Span, bucket: Bucket, tz: Tz) -> Result<Vec<Span>, &'static str> {
    let too_many = "more than 2000 buckets: choose a coarser granularity or a shorter range";
    let mut out = Vec::new();
    if bucket == Bucket::Hour {
        if (span.end_us - span.start_us) / HOUR_US > MAX_BUCKETS as i64 {
            return Err(too_many);
        }
        let mut t = span.start_us;
        while t < span.end_us {
            out.push(Span { start_us: t, end_us: t + HOUR_US });
            t += HOUR_US;
        }
        return Ok(out);
    }
    let mut day = bucket_first_day(bucket, local_date(tz, span.start_us));
    let mut start = local_midnight_us(tz, day).max(span.start_us);
    while start < span.end_us {
        if out.len() == MAX_BUCKETS {
            return Err(too_many);
        }
        day = next_first_day(bucket, day);
        let end = local_midnight_us(tz, day).min(span.end_us);
        out.push(Span { start_us: start, end_us: end });
        start = end;
    }
    Ok(out)
}

/// The local day of `tz` that contains `us`: from its first instant to the next day's.
pub fn day_of(tz: Tz, us: i64) -> Span {
    let date = local_date(tz, us);
    Span { start_us: local_midnight_us(tz, date), end_us: local_midnight_us(tz, date + Days::new(1)) }
}

/// How long a stored row's span is, in the rollup zone: an hour, a quarter of a local day (6
/// hours from local midnight; the last quarter takes what a daylight-saving change adds or
/// removes), a local day, or a local week (Monday to Monday).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Tier {
    Hour = 1,
    Quarter = 2,
    Day = 3,
    Week = 4,
}

const QUARTER_US: i64 = 6 * HOUR_US;

impl Tier {
    /// Every tier, finest first.
    pub const ALL: [Tier; 4] = [Tier::Hour, Tier::Quarter, Tier::Day, Tier::Week];

    /// The next finer tier, whose spans tile this one's (none below the hour).
    pub fn finer(self) -> Option<Tier> {
        match self {
            Tier::Hour => None,
            Tier::Quarter => Some(Tier::Hour),
            Tier::Day => Some(Tier::Quarter),
            Tier::Week => Some(Tier::Day),
        }
    }

    /// The span of this tier that contains `us`, in `tz`.
    pub fn span_of(self, tz: Tz, us: i64) -> Span {
        match self {
            Tier::Hour => Span { start_us: hour_floor(us), end_us: hour_floor(us) + HOUR_US },
            Tier::Quarter => {
                let day = day_of(tz, us);
                let k = ((us - day.start_us) / QUARTER_US).min(3);
                let start_us = day.start_us + k * QUARTER_US;
                Span { start_us, end_us: if k == 3 { day.end_us } else { start_us + QUARTER_US } }
            }
            Tier::Day => day_of(tz, us),
            Tier::Week => {
                let monday = bucket_first_day(Bucket::Week, local_date(tz, us));
                Span { start_us: local_midnight_us(tz, monday), end_us: local_midnight_us(tz, monday + Days::new(7)) }
            }
        }
    }
}

/// Where a query reads the facts of its span: each part from the coarsest tier (of those its
/// rows come in) whose whole span lies inside the query's span and inside one bucket and has
/// closed, hour rows for the rest. A query in another zone, or by hour, reads hour rows where no
/// coarser span fits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    /// Per tier, the runs of its whole spans to read from its rows.
    runs: BTreeMap<Tier, Vec<Span>>,
    /// The first day start at or after the span's start: every hour from here on, up to
    /// `days_until_us`, is also in a day row, which is where the backlog since the start is
    /// summed from.
    pub days_from_us: i64,
    /// The end of the last closed day (`i64::MAX` when every day row is kept up to date).
    days_until_us: i64,
}

/// Every span has closed: the rows of every tier are kept up to date.
pub const ALL_CLOSED: i64 = i64::MAX;

impl Plan {
    /// The plan of `span` for rows in `tiers` (hour rows always), in the rollup zone `tz`, where
    /// a coarser tier's rows hold only spans that end by `closed_us` ([`ALL_CLOSED`] when its
    /// rows are written with every hour row).
    pub fn new(span: Span, buckets: &[Span], tz: Tz, tiers: &[Tier], closed_us: i64) -> Self {
        let first = day_of(tz, span.start_us);
        let days_from_us = if first.start_us == span.start_us { first.start_us } else { first.end_us };
        let days_until_us = if closed_us == ALL_CLOSED { ALL_CLOSED } else { day_of(tz, closed_us).start_us };
        let mut plan = Self { runs: BTreeMap::new(), days_from_us, days_until_us };
        let fits = |s: Span| {
            s.end_us <= span.end_us
                && s.end_us <= closed_us
                && (buckets.is_empty() || bucket_index(buckets, s.start_us).is_some_and(|i| s.end_us <= buckets[i].end_us))
        };
        // Hours run up to the next start of the finest coarser tier, where one may fit again.
        let step = Tier::ALL.into_iter().find(|t| *t != Tier::Hour && tiers.contains(t));
        let mut t = span.start_us;
        while t < span.end_us {
            let coarse = Tier::ALL
                .into_iter()
                .rev()
                .filter(|tier| *tier != Tier::Hour && tiers.contains(tier))
                .map(|tier| (tier, tier.span_of(tz, t)))
                .find(|(_, s)| s.start_us == t && fits(*s));
            let (tier, read) = coarse.unwrap_or_else(|| {
                let next = step.map_or(span.end_us, |tier| tier.span_of(tz, t).end_us);
                (Tier::Hour, Span { start_us: t, end_us: next.min(span.end_us) })
            });
            push_run(plan.runs.entry(tier).or_default(), read);
            t = read.end_us;
        }
        plan
    }

    /// The whole span from hour rows (and the backlog since its start from hour rows too).
    pub fn hours_only(span: Span) -> Self {
        Self { runs: BTreeMap::from([(Tier::Hour, vec![span])]), days_from_us: i64::MAX, days_until_us: i64::MAX }
    }

    /// The days whose rows the backlog since the span's start is summed from (hour rows for
    /// the time before and after them).
    pub fn backlog_days(&self) -> Span {
        Span { start_us: self.days_from_us, end_us: self.days_until_us.max(self.days_from_us) }
    }

    /// The runs to read from `tier`'s rows.
    pub fn spans(&self, tier: Tier) -> &[Span] {
        self.runs.get(&tier).map_or(&[], Vec::as_slice)
    }
}

/// Appends `span` to `runs`, joining it to the last run when they touch.
fn push_run(runs: &mut Vec<Span>, span: Span) {
    match runs.last_mut() {
        Some(last) if last.end_us == span.start_us => last.end_us = span.end_us,
        _ => runs.push(span),
    }
}

/// The index of the bucket containing `us`, if any (buckets sorted and contiguous).
pub fn bucket_index(buckets: &[Span], us: i64) -> Option<usize> {
    let i = buckets.partition_point(|b| b.end_us <= us);
    buckets.get(i).filter(|b| b.contains(us)).map(|_| i)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn us(rfc3339: &str) -> i64 {
        DateTime::parse_from_rfc3339(rfc3339).unwrap().timestamp_micros()
    }

    fn hours(span: &Span) -> i64 {
        (span.end_us - span.start_us) / HOUR_US
    }

    #[test]
    fn ranges_round_out_to_whole_hours() {
        let cases = [
            ("2025-03-01T08:15:00Z", "2025-03-01T09:05:00Z", Some(("2025-03-01T08:00:00Z", "2025-03-01T10:00:00Z"))),
            ("2025-03-01T08:00:00Z", "2025-03-01T09:00:00Z", Some(("2025-03-01T08:00:00Z", "2025-03-01T09:00:00Z"))),
            ("2025-03-01T09:00:00Z", "2025-03-01T09:00:00Z", None),
            ("2025-03-01T10:00:00Z", "2025-03-01T09:00:00Z", None),
        ];
        for (start, end, want) in cases {
            let got = effective_span(us(start), us(end));
            let want = want.map(|(s, e)| Span { start_us: us(s), end_us: us(e) });
            assert_eq!(got, want, "{start}..{end}");
        }
    }

    #[test]
    fn zones_with_half_hour_offsets_are_refused() {
        let cases = [
            ("Asia/Shanghai", true),
            ("Europe/Berlin", true),
            ("America/New_York", true),
            ("UTC", true),
            ("Asia/Kolkata", false),
            ("Australia/Adelaide", false),
            ("Mars/Olympus", false),
        ];
        for (name, ok) in cases {
            assert_eq!(parse_zone(name).is_ok(), ok, "{name}");
        }
    }

    #[test]
    fn days_across_daylight_saving_changes_are_23_or_25_hours() {
        let berlin = parse_zone("Europe/Berlin").unwrap();
        // 2025-03-30: clocks go forward at 02:00 local; 2025-10-26: back at 03:00 local.
        let cases = [
            ("2025-03-29T23:00:00Z", "2025-03-31T22:00:00Z", vec![23, 24], "2025-03-29T23:00:00Z"),
            ("2025-10-25T22:00:00Z", "2025-10-27T23:00:00Z", vec![25, 24], "2025-10-25T22:00:00Z"),
        ];
        for (start, end, want_hours, first_start) in cases {
            let span = Span { start_us: us(start), end_us: us(end) };
            let got = buckets(span, Bucket::Day, berlin).unwrap();
            assert_eq!(got.iter().map(hours).collect::<Vec<_>>(), want_hours, "{start}");
            assert_eq!(got[0].start_us, us(first_start));
        }
    }

    #[test]
    fn buckets_start_at_local_midnight_and_are_clipped_to_the_range() {
        let shanghai = parse_zone("Asia/Shanghai").unwrap();
        let cases = [
            // A local day starts at 16:00 UTC the day before; the range starts mid-day.
            (Bucket::Day, "2025-03-01T04:00:00Z", "2025-03-02T20:00:00Z",
             vec![("2025-03-01T04:00:00Z", "2025-03-01T16:00:00Z"), ("2025-03-01T16:00:00Z", "2025-03-02T16:00:00Z"), ("2025-03-02T16:00:00Z", "2025-03-02T20:00:00Z")]),
            // 2025-03-03 is a Monday.
            (Bucket::Week, "2025-03-01T00:00:00Z", "2025-03-10T00:00:00Z",
             vec![("2025-03-01T00:00:00Z", "2025-03-02T16:00:00Z"), ("2025-03-02T16:00:00Z", "2025-03-09T16:00:00Z"), ("2025-03-09T16:00:00Z", "2025-03-10T00:00:00Z")]),
            (Bucket::Month, "2025-01-31T16:00:00Z", "2025-03-31T16:00:00Z",
             vec![("2025-01-31T16:00:00Z", "2025-02-28T16:00:00Z"), ("2025-02-28T16:00:00Z", "2025-03-31T16:00:00Z")]),
            (Bucket::Hour, "2025-03-01T00:00:00Z", "2025-03-01T02:00:00Z",
             vec![("2025-03-01T00:00:00Z", "2025-03-01T01:00:00Z"), ("2025-03-01T01:00:00Z", "2025-03-01T02:00:00Z")]),
        ];
        for (bucket, start, end, want) in cases {
            let span = Span { start_us: us(start), end_us: us(end) };
            let got = buckets(span, bucket, shanghai).unwrap();
            let want: Vec<_> = want.iter().map(|(s, e)| Span { start_us: us(s), end_us: us(e) }).collect();
            assert_eq!(got, want, "{bucket:?}");
        }
    }

    #[test]
    fn too_many_buckets_are_refused() {
        let utc = parse_zone("UTC").unwrap();
        let span = Span { start_us: 0, end_us: 2001 * HOUR_US };
        assert!(buckets(span, Bucket::Hour, utc).is_err());
        assert_eq!(buckets(span, Bucket::Day, utc).unwrap().len(), 84);
        let long = Span { start_us: 0, end_us: 2001 * 24 * HOUR_US };
        assert!(buckets(long, Bucket::Day, utc).is_err());
    }

    #[test]
    fn days_are_local_and_23_or_25_hours_across_daylight_saving() {
        let berlin = parse_zone("Europe/Berlin").unwrap();
        let shanghai = parse_zone("Asia/Shanghai").unwrap();
        let cases = [
            (shanghai, "2025-03-01T15:00:00Z", "2025-02-28T16:00:00Z", 24),
            (shanghai, "2025-03-01T16:00:00Z", "2025-03-01T16:00:00Z", 24),
            (berlin, "2025-03-30T12:00:00Z", "2025-03-29T23:00:00Z", 23),
            (berlin, "2025-10-26T23:00:00Z", "2025-10-26T23:00:00Z", 24),
            (berlin, "2025-10-26T22:00:00Z", "2025-10-25T22:00:00Z", 25),
        ];
        for (tz, at, start, len) in cases {
            let day = day_of(tz, us(at));
            assert_eq!((day.start_us, hours(&day)), (us(start), len), "{tz} {at}");
        }
    }

    #[test]
    fn plans_read_whole_days_inside_one_bucket_and_hours_elsewhere() {
        let shanghai = parse_zone("Asia/Shanghai").unwrap();
        let utc = parse_zone("UTC").unwrap();
        let span = |s: &str, e: &str| Span { start_us: us(s), end_us: us(e) };
        // Shanghai days start at 16:00 UTC. Mid-day to mid-day, three whole days between.
        let range = span("2025-03-01T04:00:00Z", "2025-03-04T20:00:00Z");
        let cases = [
            ("no buckets", range, vec![], shanghai,
             vec![span("2025-03-01T16:00:00Z", "2025-03-04T16:00:00Z")],
             vec![span("2025-03-01T04:00:00Z", "2025-03-01T16:00:00Z"), span("2025-03-04T16:00:00Z", "2025-03-04T20:00:00Z")],
             us("2025-03-01T16:00:00Z")),
            ("daily buckets in the rollup zone", range, buckets(range, Bucket::Day, shanghai).unwrap(), shanghai,
             vec![span("2025-03-01T16:00:00Z", "2025-03-04T16:00:00Z")],
             vec![span("2025-03-01T04:00:00Z", "2025-03-01T16:00:00Z"), span("2025-03-04T16:00:00Z", "2025-03-04T20:00:00Z")],
             us("2025-03-01T16:00:00Z")),
            ("daily buckets in another zone", range, buckets(range, Bucket::Day, utc).unwrap(), shanghai,
             vec![], vec![range], us("2025-03-01T16:00:00Z")),
            ("hourly buckets", range, buckets(range, Bucket::Hour, shanghai).unwrap(), shanghai,
             vec![], vec![range], us("2025-03-01T16:00:00Z")),
            ("starting at a day start, shorter than a day", span("2025-03-01T16:00:00Z", "2025-03-02T10:00:00Z"), vec![], shanghai,
             vec![], vec![span("2025-03-01T16:00:00Z", "2025-03-02T10:00:00Z")], us("2025-03-01T16:00:00Z")),
            ("exactly one day", span("2025-03-01T16:00:00Z", "2025-03-02T16:00:00Z"), vec![], shanghai,
             vec![span("2025-03-01T16:00:00Z", "2025-03-02T16:00:00Z")], vec![], us("2025-03-01T16:00:00Z")),
        ];
        let per_cell = [Tier::Hour, Tier::Day];
        for (name, range, buckets, tz, days, hours, days_from) in cases {
            let plan = Plan::new(range, &buckets, tz, &per_cell, ALL_CLOSED);
            assert_eq!((plan.spans(Tier::Day), plan.spans(Tier::Hour)), (&days[..], &hours[..]), "{name}");
            assert_eq!(plan.days_from_us, days_from, "{name}");
        }
        // A week bucket holds whole days but splits the range at its start (a Monday, 2025-03-03).
        let weeks = buckets(range, Bucket::Week, shanghai).unwrap();
        let plan = Plan::new(range, &weeks, shanghai, &per_cell, ALL_CLOSED);
        assert_eq!(plan.spans(Tier::Day), vec![span("2025-03-01T16:00:00Z", "2025-03-04T16:00:00Z")]);
    }

    #[test]
    fn quarters_split_a_local_day_from_midnight_and_weeks_start_on_monday() {
        let berlin = parse_zone("Europe/Berlin").unwrap();
        // 2025-03-30 in Berlin: 23 hours, from 23:00 UTC the day before.
        let quarters: Vec<i64> = (0..23).map(|h| us("2025-03-29T23:00:00Z") + h * HOUR_US).map(|t| hours(&Tier::Quarter.span_of(berlin, t))).collect();
        assert_eq!(quarters, [[6; 18].as_slice(), &[5; 5]].concat());
        let last = Tier::Quarter.span_of(berlin, us("2025-03-30T21:30:00Z"));
        assert_eq!(last, Span { start_us: us("2025-03-30T17:00:00Z"), end_us: us("2025-03-30T22:00:00Z") });
        // The week of Sunday 2025-03-30 runs from Monday 24 March to Monday 31 March, local.
        let week = Tier::Week.span_of(berlin, us("2025-03-30T12:00:00Z"));
        assert_eq!(week, Span { start_us: us("2025-03-23T23:00:00Z"), end_us: us("2025-03-30T22:00:00Z") });
        assert_eq!(Tier::Hour.span_of(berlin, us("2025-03-30T12:59:59Z")), Span { start_us: us("2025-03-30T12:00:00Z"), end_us: us("2025-03-30T13:00:00Z") });
    }

    #[test]
    fn plans_tile_the_span_with_the_coarsest_tiers_that_fit() {
        let shanghai = parse_zone("Asia/Shanghai").unwrap();
        let span = |s: &str, e: &str| Span { start_us: us(s), end_us: us(e) };
        // Shanghai: quarters start at 16, 22, 04 and 10 UTC; Monday 2025-03-03 starts 2025-03-02T16:00Z.
        let range = span("2025-02-26T05:00:00Z", "2025-03-12T13:00:00Z");
        for (buckets, want) in [
            (vec![], [
                (Tier::Hour, vec![span("2025-02-26T05:00:00Z", "2025-02-26T10:00:00Z"), span("2025-03-12T10:00:00Z", "2025-03-12T13:00:00Z")]),
                (Tier::Quarter, vec![span("2025-02-26T10:00:00Z", "2025-02-26T16:00:00Z"), span("2025-03-11T16:00:00Z", "2025-03-12T10:00:00Z")]),
                (Tier::Day, vec![span("2025-02-26T16:00:00Z", "2025-03-02T16:00:00Z"), span("2025-03-09T16:00:00Z", "2025-03-11T16:00:00Z")]),
                (Tier::Week, vec![span("2025-03-02T16:00:00Z", "2025-03-09T16:00:00Z")]),
            ]),
            // Daily buckets: no week fits one.
            (buckets(range, Bucket::Day, shanghai).unwrap(), [
                (Tier::Hour, vec![span("2025-02-26T05:00:00Z", "2025-02-26T10:00:00Z"), span("2025-03-12T10:00:00Z", "2025-03-12T13:00:00Z")]),
                (Tier::Quarter, vec![span("2025-02-26T10:00:00Z", "2025-02-26T16:00:00Z"), span("2025-03-11T16:00:00Z", "2025-03-12T10:00:00Z")]),
                (Tier::Day, vec![span("2025-02-26T16:00:00Z", "2025-03-11T16:00:00Z")]),
                (Tier::Week, vec![]),
            ]),
        ] {
            let plan = Plan::new(range, &buckets, shanghai, &Tier::ALL, ALL_CLOSED);
            for (tier, spans) in want {
                assert_eq!(plan.spans(tier), spans, "{tier:?}, {} buckets", buckets.len());
            }
        }
        // Hourly buckets: hour rows only.
        let plan = Plan::new(range, &buckets(range, Bucket::Hour, shanghai).unwrap(), shanghai, &Tier::ALL, ALL_CLOSED);
        assert_eq!(plan, Plan { runs: BTreeMap::from([(Tier::Hour, vec![range])]), days_from_us: plan.days_from_us, days_until_us: ALL_CLOSED });
    }

    #[test]
    fn spans_still_open_are_read_from_hours() {
        let shanghai = parse_zone("Asia/Shanghai").unwrap();
        let span = |s: &str, e: &str| Span { start_us: us(s), end_us: us(e) };
        // Shanghai days start at 16:00 UTC; spans have closed by 2025-03-03T01:30Z, mid-quarter.
        let range = span("2025-03-01T16:00:00Z", "2025-03-05T16:00:00Z");
        let plan = Plan::new(range, &[], shanghai, &Tier::ALL, us("2025-03-03T01:30:00Z"));
        assert_eq!(plan.spans(Tier::Day), [span("2025-03-01T16:00:00Z", "2025-03-02T16:00:00Z")]);
        assert_eq!(plan.spans(Tier::Quarter), [span("2025-03-02T16:00:00Z", "2025-03-02T22:00:00Z")]);
        assert_eq!(plan.spans(Tier::Hour), [span("2025-03-02T22:00:00Z", "2025-03-05T16:00:00Z")]);
        assert_eq!(plan.backlog_days(), span("2025-03-01T16:00:00Z", "2025-03-02T16:00:00Z"));
        // Closed before the range starts: hours only, and no day rows for the backlog.
        let plan = Plan::new(range, &[], shanghai, &Tier::ALL, us("2025-02-01T00:00:00Z"));
        assert_eq!(plan.spans(Tier::Hour), [range]);
        assert_eq!(plan.backlog_days(), span("2025-03-01T16:00:00Z", "2025-03-01T16:00:00Z"));
        assert_eq!(Plan::new(range, &[], shanghai, &Tier::ALL, ALL_CLOSED).backlog_days().end_us, ALL_CLOSED);
    }

    #[test]
    fn an_instant_finds_its_bucket() {
        let b = [Span { start_us: 0, end_us: 10 }, Span { start_us: 10, end_us: 25 }];
        let cases = [(-1, None), (0, Some(0)), (9, Some(0)), (10, Some(1)), (24, Some(1)), (25, None)];
        for (t, want) in cases {
            assert_eq!(bucket_index(&b, t), want, "{t}");
        }
    }
}
