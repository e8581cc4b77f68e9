//! Filing reports: place each on a managed site, classify it when a category is given, apply the
//! rate limits, link it to an open report it repeats, and keep the contact details apart. The
//! calls that arrive together are filed together (`intake`), each decided as if filed alone in
//! the order they were queued.

use super::intake::Filed;
use super::placement::{Named, Place};
use super::status::{Move, move_status};
use super::{Feedback, limits, new_id};
use crate::caller::Caller;
use crate::domain::duplicate::{self, Candidate, Rule};
use crate::domain::geo::{self, BoundingBox};
use crate::domain::status::is_open;
use crate::domain::{report as rules, tracking};
use crate::events;
use crate::store::duplicates::{self, Search};
use crate::store::entities::{contact, report, timeline};
use crate::store;
use flywheel_proto::flywheel::common::v1::GeoPoint;
use flywheel_proto::flywheel::feedback::v1::{
    DuplicateRule, Report, ReportStatus, ResidentContact, StatusChangeCause, SubmitReportRequest,
};
use flywheel_runtime::db::now_micros;
use flywheel_runtime::events::OutgoingEvent;
use flywheel_runtime::writer::check_request_id;
use flywheel_runtime::{Error, Result, bulk, idempotency};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ColumnTrait, DatabaseTransaction, EntityTrait, QueryFilter, QueryTrait};
use std::collections::HashSet;

/// One SubmitReport call, validated, waiting to be filed.
pub(super) struct Submission {
    draft: Report,
    contact: Option<ResidentContact>,
    caller: Caller,
    corr: String,
    pub request_id: String,
    /// The idempotency scope of `request_id`: one per caller.
    pub scope: String,
}

/// What became of one submission of a batch.
pub(super) enum Outcome {
    Filed(Box<Report>),
    /// A retry of a filed request: the report it filed.
    Earlier(String),
    Refused(Error),
    /// Filed in the next round, after this one commits: it repeats a report or a request id
    /// that an earlier submission of the batch files or links to.
    Later,
}

/// A submission that passed its checks, on its way to a report row.
struct Accepted<'a> {
    index: usize,
    submission: &'a Submission,
    place: Place,
    location: GeoPoint,
    repeats: Option<(duplicate::Match, report::Model)>,
}

impl Feedback {
    pub async fn submit_report(&self, req: SubmitReportRequest, caller: &Caller, corr: &str) -> Result<Report> {
        let draft = req.report.ok_or_else(|| Error::invalid("report", "is required"))?;
        rules::validate_submission(&draft, req.contact.as_ref())?;
        check_request_id(&req.request_id)?;
        let scope = match caller {
            Caller::Resident(id) => format!("SubmitReport/resident/{id}"),
            Caller::Staff(id) => format!("SubmitReport/staff/{id}"),
            Caller::Open311 => "SubmitReport/open311".to_owned(),
            Caller::Service(id) => format!("SubmitReport/service/{id}"),
        };
        let submission =
            Submission { draft, contact: req.contact, caller: caller.clone(), corr: corr.to_owned(), request_id: req.request_id, scope };
        let report = match self.intake.file(self, submission).await? {
            Filed::Report(report) => *report,
            // A retry of a filed request reads the report as it is now.
            Filed::Earlier(id) => store::snapshot(self.db(), store::load_report(self.db(), &id).await?).await?,
        };
        Ok(crate::convert::for_caller(report, caller))
    }

    /// Files `batch` in one transaction: an outcome per submission, in order, and the events.
    pub(super) async fn file_all(
        &self,
        txn: &DatabaseTransaction,
        batch: &[&Submission],
    ) -> Result<(Vec<Outcome>, Vec<OutgoingEvent>)> {
        let mut outcomes: Vec<Option<Outcome>> = batch.iter().map(|_| None).collect();
        self.retries(txn, batch, &mut outcomes).await?;

        let pending: Vec<&Report> = batch.iter().zip(&outcomes).filter(|(_, o)| o.is_none()).map(|(s, _)| &s.draft).collect();
        let named = Named::load(txn, &pending).await?;
        let mut accepted = Vec::new();
        for (index, s) in batch.iter().enumerate() {
            if outcomes[index].is_some() {
                continue;
            }
            match named.place(txn, &s.draft).await {
                Ok(place) => {
                    let location = s.draft.location.unwrap_or(GeoPoint { lat: place.site.lat, lng: place.site.lng });
                    accepted.push(Accepted { index, submission: s, place, location, repeats: None });
                }
                Err(err) => outcomes[index] = Some(Outcome::Refused(err)),
            }
        }
        let limits_of = |s: &Submission| {
            let mut on = vec![limits::per_channel(&self.settings, s.draft.channel)];
            on.extend(s.caller.resident_id().map(|r| limits::per_resident(&self.settings, r)));
            on
        };
        // Filings at one place must see each other for the duplicate rule, and one resident's
        // for their limit.
        let mut turns: Vec<String> = accepted
            .iter()
            .filter(|a| a.place.category.is_some())
            .map(|a| format!("place/{}/{}", a.place.site.id, a.submission.draft.category_id))
            .collect();
        turns.extend(accepted.iter().flat_map(|a| limits_of(a.submission)).filter_map(|l| l.turn().map(str::to_owned)));
        flywheel_runtime::db::take_turns(txn, &turns).await?;
        // The filing instant, taken once the turns are ours: a filing that had to wait then
        // never precedes the one it waited for, which the duplicate window would not match.
        let now = now_micros();
        self.link_repeats(txn, &mut accepted, &mut outcomes, now).await?;

        let limits: Vec<_> = accepted.iter().map(|a| limits_of(a.submission)).collect();
        let mut counters = limits::load(txn, limits.iter().flatten(), now).await?;
        let mut admitted = Vec::new();
        for (a, on) in accepted.into_iter().zip(&limits) {
            match counters.admit(on) {
                Ok(()) => admitted.push(a),
                Err(err) => outcomes[a.index] = Some(Outcome::Refused(err)),
            }
        }

        let mut rows: Vec<report::Model> = admitted.iter().map(|a| self.new_row(a, now)).collect();
        insert_with_unused_tracking_codes(txn, &mut rows).await?;
        let steps: Vec<timeline::Model> = rows
            .iter()
            .map(|r| timeline::Model { report_id: r.id.clone(), seq: 1, status: r.status, time_us: now, note: String::new() })
            .collect();
        store::insert_steps(txn, &steps).await?;
        insert_contacts(txn, &admitted, &rows).await?;

        let mut events = Vec::new();
        let mut produced = Vec::new();
        for ((a, row), step) in admitted.into_iter().zip(rows).zip(steps) {
            let filed = crate::convert::report(row.clone(), vec![step], Vec::new(), now);
            events.push(events::submitted(&filed));
            let filed = match a.repeats {
                Some((m, primary)) => self.link(txn, filed, row, m, primary, &mut events).await?,
                None => filed,
            };
            if !a.submission.request_id.is_empty() {
                produced.push((a.submission.scope.as_str(), a.submission.request_id.as_str(), filed.id.clone()));
            }
            outcomes[a.index] = Some(Outcome::Filed(Box::new(filed)));
        }
        counters.count(txn).await?;
        let produced: Vec<(&str, &str, &str)> = produced.iter().map(|(s, r, id)| (*s, *r, id.as_str())).collect();
        idempotency::remember_all(txn, &produced).await?;
        let outcomes = outcomes.into_iter().map(|o| o.expect("every submission has an outcome")).collect();
        Ok((outcomes, events))
    }

    /// Marks the retries of filed requests, and a request id repeated within the batch.
    async fn retries(&self, txn: &DatabaseTransaction, batch: &[&Submission], outcomes: &mut [Option<Outcome>]) -> Result<()> {
        let keys: Vec<(&str, &str)> =
            batch.iter().filter(|s| !s.request_id.is_empty()).map(|s| (s.scope.as_str(), s.request_id.as_str())).collect();
        let filed = idempotency::lookup_all(txn, &keys).await?;
        let mut seen = HashSet::new();
        for (s, outcome) in batch.iter().zip(outcomes) {
            if s.request_id.is_empty() {
                continue;
            }
            if let Some(id) = filed.get(&(s.scope.clone(), s.request_id.clone())) {
                *outcome = Some(Outcome::Earlier(id.clone()));
            } else if !seen.insert((&s.scope, &s.request_id)) {
                *outcome = Some(Outcome::Later);
            }
        }
        Ok(())
    }

    /// Finds the open report each classified submission repeats under the duplicate rule (one
    /// query for the batch). A submission that repeats another of the batch, or a report an
    /// earlier one of the batch links to, waits for the next round.
    async fn link_repeats(
        &self,
        txn: &DatabaseTransaction,
        accepted: &mut Vec<Accepted<'_>>,
        outcomes: &mut [Option<Outcome>],
        now: i64,
    ) -> Result<()> {
        let window_us = self.settings.duplicate_window.as_micros() as i64;
        let radius_m = self.settings.duplicate_radius_m;
        let classified: Vec<&Accepted<'_>> = accepted.iter().filter(|a| a.place.category.is_some()).collect();
        if classified.is_empty() {
            return Ok(());
        }
        let searches: Vec<Search<'_>> = classified
            .iter()
            .map(|a| Search {
                site_id: &a.place.site.id,
                category_id: &a.submission.draft.category_id,
                area: BoundingBox::around(&a.location, radius_m),
                centre_near: geo::distance_m(&a.location, &GeoPoint { lat: a.place.site.lat, lng: a.place.site.lng }) <= radius_m,
            })
            .collect();
        let mut open = duplicates::open_candidates(txn, &searches, now - window_us).await?;
        let mut seen = HashSet::new();
        open.retain(|r| seen.insert(r.id.clone()));
        let candidate = |r: &report::Model, site_centre: GeoPoint| Candidate {
            id: r.id.clone(),
            site_id: r.site_id.clone(),
            category_id: r.category_id.clone(),
            location: r.lat.zip(r.lng).map_or(site_centre, |(lat, lng)| GeoPoint { lat, lng }),
            submit_us: r.submit_us,
            open_primary: is_open(r.status) && r.duplicate_of.is_empty(),
        };
        let existing: Vec<Candidate> = open.iter().map(|r| {
            let site = accepted.iter().find(|a| a.place.site.id == r.site_id).map(|a| &a.place.site);
            candidate(r, site.map_or(GeoPoint::default(), |s| GeoPoint { lat: s.lat, lng: s.lng }))
        }).collect();
        let rule = Rule { distance_m: radius_m, window: self.settings.duplicate_window };
        let mut earlier: Vec<Candidate> = Vec::new();
        let mut linked: HashSet<String> = HashSet::new();
        let mut keep = Vec::with_capacity(accepted.len());
        for mut a in accepted.drain(..) {
            let new = Candidate {
                id: String::new(),
                site_id: a.place.site.id.clone(),
                category_id: a.place.category.as_ref().map(|c| c.id.clone()).unwrap_or_default(),
                location: a.location,
                submit_us: now,
                open_primary: true,
            };
            let in_batch = duplicate::find_primary(&new, &earlier, rule);
            let stored = duplicate::find_primary(&new, &existing, rule);
            // Filed one after the other, a submission would see the earlier ones of the batch
            // as open reports too, and the nearest (then the most recent) would win.
            let later = match (&in_batch, &stored) {
                (Some(b), Some(s)) => b.distance_m <= s.distance_m || linked.contains(&s.primary_id),
                (Some(_), None) => true,
                (None, Some(s)) => linked.contains(&s.primary_id),
                (None, None) => false,
            };
            if later {
                outcomes[a.index] = Some(Outcome::Later);
                continue;
            }
            if stored.is_none() {
                earlier.push(Candidate { id: format!("batch-{}", a.index), ..new });
            }
            if let Some(m) = stored {
                linked.insert(m.primary_id.clone());
                a.repeats = open.iter().find(|r| r.id == m.primary_id).cloned().map(|r| (m, r));
            }
            keep.push(a);
        }
        *accepted = keep;
        Ok(())
    }

    /// The report row of an accepted submission.
    fn new_row(&self, a: &Accepted<'_>, now: i64) -> report::Model {
        let (draft, caller, category) = (&a.submission.draft, &a.submission.caller, &a.place.category);
        let priority_hint = match category {
            None => 0,
            Some(_) if rules::may_set_priority(draft.channel) && draft.priority_hint != 0 => draft.priority_hint,
            Some(c) => c.default_priority,
        };
        report::Model {
            id: new_id(),
            tracking_code: String::new(),
            kind: draft.kind,
            site_id: a.place.site.id.clone(),
            region_path: a.place.site.region_path.clone(),
            zone_id: draft.zone_id.clone(),
            lat: draft.location.as_ref().map(|p| p.lat),
            lng: draft.location.as_ref().map(|p| p.lng),
            address: draft.address.clone(),
            category_id: draft.category_id.clone(),
            dimension: category.as_ref().map_or(0, |c| c.dimension),
            perspective: category.as_ref().map_or(0, |c| c.perspective),
            priority_hint,
            description: draft.description.clone(),
            media_urls: draft.media_urls.join("\n"),
            channel: draft.channel,
            resident_id: caller.resident_id().map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_owned),
            needs_field_work: rules::needs_field_work(draft.kind, category.is_some(), a.repeats.is_some()),
            status: ReportStatus::Submitted as i32,
            ticket_id: String::new(),
            duplicate_of: a.repeats.as_ref().map(|(m, _)| m.primary_id.clone()).unwrap_or_default(),
            duplicate_count: 0,
            support_count: 0,
            reopen_count: 0,
            correlation_id: a.submission.corr.clone(),
            version: 1,
            submit_us: now,
            update_us: now,
            close_us: None,
            expected_resolve_us: None,
        }
    }

    /// Links a filed report to the open report it repeats; a duplicate shows its primary's
    /// status from the start.
    async fn link(
        &self,
        txn: &DatabaseTransaction,
        filed: Report,
        row: report::Model,
        m: duplicate::Match,
        mut primary: report::Model,
        events: &mut Vec<OutgoingEvent>,
    ) -> Result<Report> {
        primary.duplicate_count += 1;
        let primary = store::snapshot(txn, store::save_report(txn, primary).await?).await?;
        let rule = DuplicateRule {
            distance_m: self.settings.duplicate_radius_m,
            window: Some(crate::convert::duration(self.settings.duplicate_window.as_micros() as i64)),
        };
        events.push(events::linked_as_duplicate(&filed, &primary, m.distance_m, m.apart_us, rule));
        let Some(to) = ReportStatus::try_from(primary.status).ok().filter(|s| *s != ReportStatus::Submitted) else {
            return Ok(filed);
        };
        let note = format!("Linked to report {}, which is already being handled", primary.tracking_code);
        let m = Move { to, note: &note, cause: StatusChangeCause::PrimaryReport, ticket_id: "" };
        let (moved, moved_events) = move_status(txn, row, m).await?;
        events.extend(moved_events);
        Ok(moved)
    }
}

/// Inserts `rows` under tracking codes no report has yet: 40 random bits rarely collide, and the
/// unique index turns a collision into no insert, after which the rows left out draw other codes.
async fn insert_with_unused_tracking_codes(txn: &DatabaseTransaction, rows: &mut [report::Model]) -> Result<()> {
    let mut missing: Vec<usize> = (0..rows.len()).collect();
    for _ in 0..5 {
        if missing.is_empty() {
            return Ok(());
        }
        for &i in &missing {
            rows[i].tracking_code = tracking::generate();
        }
        let batch = missing.iter().map(|&i| report::ActiveModel::from(rows[i].clone()));
        let insert = report::Entity::insert_many(batch)
            .on_conflict(OnConflict::column(report::Column::TrackingCode).do_nothing().to_owned())
            .into_query();
        if bulk::execute(txn, &insert).await?.rows_affected() == missing.len() as u64 {
            return Ok(());
        }
        let ids: Vec<&str> = missing.iter().map(|&i| rows[i].id.as_str()).collect();
        let stored: HashSet<String> = report::Entity::find()
            .filter(report::Column::Id.is_in(ids))
            .all(txn)
            .await?
            .into_iter()
            .map(|r| r.id)
            .collect();
        missing.retain(|&i| !stored.contains(&rows[i].id));
    }
    if missing.is_empty() {
        return Ok(());
    }
    Err(Error::Internal(anyhow::anyhow!("no free tracking code after 5 tries")))
}

/// The contact details given with the admitted submissions, beside their reports.
async fn insert_contacts(txn: &DatabaseTransaction, admitted: &[Accepted<'_>], rows: &[report::Model]) -> Result<()> {
    let contacts: Vec<contact::ActiveModel> = admitted
        .iter()
        .zip(rows)
        .filter_map(|(a, row)| {
            let c = a.submission.contact.as_ref().filter(|c| !(c.name.is_empty() && c.phone.is_empty() && c.email.is_empty()))?;
            Some(contact::ActiveModel::from(contact::Model {
                report_id: row.id.clone(),
                name: c.name.trim().to_owned(),
                phone: c.phone.trim().to_owned(),
                email: c.email.trim().to_owned(),
            }))
        })
        .collect();
    if !contacts.is_empty() {
        contact::Entity::insert_many(contacts).exec_without_returning(txn).await?;
    }
    Ok(())
}
