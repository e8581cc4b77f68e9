//! Stored rows as the contract's messages, and what each caller may see of them.

use crate::caller::Caller;
use crate::domain::{survey as survey_rules, tracking};
use crate::store::entities::{report, survey, timeline};
use flywheel_proto::flywheel::common::v1::{GeoPoint, ScenarioCell};
use flywheel_proto::flywheel::feedback::v1::{
    ClassificationState, Report, ResolutionRating, Survey, SurveyState, TimelineEntry,
};
use prost_types::Timestamp;

pub fn timestamp(us: i64) -> Timestamp {
    Timestamp { seconds: us.div_euclid(1_000_000), nanos: (us.rem_euclid(1_000_000) * 1000) as i32 }
}

pub fn micros(ts: &Timestamp) -> i64 {
    ts.seconds.saturating_mul(1_000_000).saturating_add(i64::from(ts.nanos) / 1000)
}

pub fn duration(us: i64) -> prost_types::Duration {
    prost_types::Duration { seconds: us.div_euclid(1_000_000), nanos: (us.rem_euclid(1_000_000) * 1000) as i32 }
}

/// The whole report (private parts included); callers redact with [`for_caller`].
pub fn report(r: report::Model, steps: Vec<timeline::Model>, surveys: Vec<survey::Model>, now_us: i64) -> Report {
    let classified = !r.category_id.is_empty();
    Report {
        tracking_code: tracking::display(&r.tracking_code),
        kind: r.kind,
        site_id: r.site_id,
        region_path: r.region_path.split('/').filter(|p| !p.is_empty()).map(str::to_owned).collect(),
        zone_id: r.zone_id,
        location: r.lat.zip(r.lng).map(|(lat, lng)| GeoPoint { lat, lng }),
        address: r.address,
        classification: if classified {
            ClassificationState::Classified as i32
        } else {
            ClassificationState::Unclassified as i32
        },
        cell: classified.then_some(ScenarioCell { dimension: r.dimension, perspective: r.perspective }),
        category_id: r.category_id,
        priority_hint: r.priority_hint,
        description: r.description,
        media_urls: r.media_urls.lines().map(str::to_owned).collect(),
        channel: r.channel,
        resident_id: r.resident_id,
        needs_field_work: r.needs_field_work,
        status: r.status,
        timeline: steps
            .into_iter()
            .map(|t| TimelineEntry { status: t.status, time: Some(timestamp(t.time_us)), note: t.note })
            .collect(),
        ticket_id: r.ticket_id,
        duplicate_of_report_id: r.duplicate_of,
        duplicate_count: r.duplicate_count,
        support_count: r.support_count,
        reopen_count: r.reopen_count,
        surveys: surveys.into_iter().map(|s| survey(s, now_us)).collect(),
        correlation_id: r.correlation_id,
        version: r.version,
        submit_time: Some(timestamp(r.submit_us)),
        update_time: Some(timestamp(r.update_us)),
        close_time: r.close_us.map(timestamp),
        expected_resolve_time: r.expected_resolve_us.map(timestamp),
        id: r.id,
    }
}

fn survey(s: survey::Model, now_us: i64) -> Survey {
    let answered = s.state == SurveyState::Answered as i32;
    Survey {
        round: s.round,
        state: survey_rules::effective_state(s.state, s.close_us, now_us),
        ticket_id: s.ticket_id,
        open_time: Some(timestamp(s.open_us)),
        close_time: Some(timestamp(s.close_us)),
        answer: answered.then(|| ResolutionRating {
            rating: s.rating,
            fixed: s.fixed,
            comment: s.comment,
            rate_time: s.rate_us.map(timestamp),
        }),
    }
}

/// What `caller` may see: the reporter and staff see everything but the correlation id (staff
/// only); anyone else gets neither the resident id nor survey answers.
pub fn for_caller(mut r: Report, caller: &Caller) -> Report {
    if !caller.is_staff() {
        r.correlation_id.clear();
    }
    if !caller.may_see_private(&r.resident_id) {
        r.resident_id.clear();
        for s in &mut r.surveys {
            s.answer = None;
        }
    }
    r
}
