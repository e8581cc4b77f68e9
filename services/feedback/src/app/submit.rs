//! Filing a report: place it on a managed site, classify it when a category is given, apply the
//! rate limits, link it to an open report it repeats, and keep the contact details apart.

use super::status::{Move, move_status};
use super::{Feedback, limits, new_id};
use crate::caller::Caller;
use crate::domain::duplicate::{self, Candidate, Rule};
use crate::domain::geo::{self, BoundingBox, METRES_PER_DEGREE_LAT, SiteArea};
use crate::domain::status::{NOT_OPEN, is_open};
use crate::domain::{report as rules, tracking};
use crate::events;
use crate::store::entities::{category, contact, report, zone};
use crate::store::{self, entities::site};
use flywheel_proto::flywheel::common::v1::GeoPoint;
use flywheel_proto::flywheel::feedback::v1::{
    DuplicateRule, Report, ReportStatus, ResidentContact, StatusChangeCause, SubmitReportRequest,
};
use flywheel_proto::flywheel::registry::v1::Status as RegistryStatus;
use flywheel_runtime::db::now_micros;
use flywheel_runtime::events::OutgoingEvent;
use flywheel_runtime::{Error, Result};
use sea_orm::{ActiveModelTrait, ColumnTrait, Condition, DatabaseTransaction, EntityTrait, QueryFilter, TryInsertResult};

/// The widest service radius the registry allows, to narrow the site search.
const MAX_SITE_RADIUS_M: f64 = 50_000.0;

impl Feedback {
    pub async fn submit_report(&self, req: SubmitReportRequest, caller: &Caller, corr: &str) -> Result<Report> {
        let draft = req.report.ok_or_else(|| Error::invalid("report", "is required"))?;
        rules::validate_submission(&draft, req.contact.as_ref())?;
        let scope = match caller {
            Caller::Resident(id) => format!("SubmitReport/resident/{id}"),
            Caller::Staff(id) => format!("SubmitReport/staff/{id}"),
            Caller::Open311 => "SubmitReport/open311".to_owned(),
            Caller::Service(id) => format!("SubmitReport/service/{id}"),
        };
        let mut filed = None;
        let id = self
            .writer
            .write_once(&scope, &req.request_id, async |txn| {
                let (report, events) = self.file(txn, &draft, req.contact.clone(), caller, corr).await?;
                let id = report.id.clone();
                filed = Some(report);
                Ok((id, events))
            })
            .await?;
        // A retry of a filed request reads the report as it is now.
        let report = match filed.filter(|r| r.id == id) {
            Some(report) => report,
            None => store::snapshot(self.db(), store::load_report(self.db(), &id).await?).await?,
        };
        Ok(crate::convert::for_caller(report, caller))
    }

    async fn file(
        &self,
        txn: &DatabaseTransaction,
        draft: &Report,
        contact: Option<ResidentContact>,
        caller: &Caller,
        corr: &str,
    ) -> Result<(Report, Vec<OutgoingEvent>)> {
        let site = place(txn, draft).await?;
        check_zone(txn, &draft.zone_id, &site.id).await?;
        let category = match draft.category_id.as_str() {
            "" => None,
            id => Some(active_category(txn, id).await?),
        };
        let resident_id = caller.resident_id().map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_owned);
        let now = now_micros();
        let mut on = vec![limits::per_channel(&self.settings, draft.channel)];
        on.extend(caller.resident_id().map(|r| limits::per_resident(&self.settings, r)));
        let passed = limits::check(txn, &on, now).await?;

        let priority_hint = match &category {
            None => 0,
            Some(_) if rules::may_set_priority(draft.channel) && draft.priority_hint != 0 => draft.priority_hint,
            Some(c) => c.default_priority,
        };
        let location = draft.location.unwrap_or(GeoPoint { lat: site.lat, lng: site.lng });
        let mut row = report::Model {
            id: new_id(),
            tracking_code: String::new(),
            kind: draft.kind,
            site_id: site.id.clone(),
            region_path: site.region_path.clone(),
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
            resident_id,
            needs_field_work: false,
            status: ReportStatus::Submitted as i32,
            ticket_id: String::new(),
            duplicate_of: String::new(),
            duplicate_count: 0,
            support_count: 0,
            reopen_count: 0,
            correlation_id: corr.to_owned(),
            version: 1,
            submit_us: now,
            update_us: now,
            close_us: None,
            expected_resolve_us: None,
        };
        let found = self.open_report_repeated(txn, &row, &location, &site).await?;
        row.duplicate_of = found.as_ref().map(|(m, _)| m.primary_id.clone()).unwrap_or_default();
        row.needs_field_work = rules::needs_field_work(row.kind, category.is_some(), found.is_some());
        insert_with_unused_tracking_code(txn, &mut row).await?;
        let first_step = store::first_step(txn, &row.id, row.status, now).await?;
        if let Some(c) = contact.filter(|c| !(c.name.is_empty() && c.phone.is_empty() && c.email.is_empty())) {
            contact::ActiveModel::from(contact::Model {
                report_id: row.id.clone(),
                name: c.name.trim().to_owned(),
                phone: c.phone.trim().to_owned(),
                email: c.email.trim().to_owned(),
            })
            .insert(txn)
            .await?;
        }
        let mut filed = crate::convert::report(row.clone(), vec![first_step], Vec::new(), now);
        let mut out = vec![events::submitted(&filed)];
        if let Some((m, mut primary)) = found {
            primary.duplicate_count += 1;
            let primary = store::snapshot(txn, store::save_report(txn, primary).await?).await?;
            let rule = DuplicateRule {
                distance_m: self.settings.duplicate_radius_m,
                window: Some(crate::convert::duration(self.settings.duplicate_window.as_micros() as i64)),
            };
            out.push(events::linked_as_duplicate(&filed, &primary, m.distance_m, m.apart_us, rule));
            // A duplicate shows its primary's status from the start.
            let follows = ReportStatus::try_from(primary.status).ok().filter(|s| *s != ReportStatus::Submitted);
            if let Some(to) = follows {
                let note = format!("Linked to report {}, which is already being handled", primary.tracking_code);
                let m = Move { to, note: &note, cause: StatusChangeCause::PrimaryReport, ticket_id: "" };
                let (moved, events) = move_status(txn, row.clone(), m).await?;
                filed = moved;
                out.extend(events);
            }
        }
        passed.count(txn).await?;
        Ok((filed, out))
    }

    /// The open report `row` repeats under the duplicate rule, with the match.
    async fn open_report_repeated(
        &self,
        txn: &DatabaseTransaction,
        row: &report::Model,
        location: &GeoPoint,
        site: &site::Model,
    ) -> Result<Option<(duplicate::Match, report::Model)>> {
        if row.category_id.is_empty() {
            return Ok(None);
        }
        let window_us = self.settings.duplicate_window.as_micros() as i64;
        let radius_m = self.settings.duplicate_radius_m;
        let open: Vec<report::Model> = report::Entity::find()
            .filter(report::Column::SiteId.eq(&row.site_id))
            .filter(report::Column::CategoryId.eq(&row.category_id))
            .filter(report::Column::DuplicateOf.eq(""))
            .filter(report::Column::Status.is_not_in(NOT_OPEN))
            .filter(report::Column::SubmitUs.gte(row.submit_us - window_us))
            .filter(within(location, radius_m, &GeoPoint { lat: site.lat, lng: site.lng }))
            .all(txn)
            .await?;
        let candidate = |r: &report::Model| Candidate {
            id: r.id.clone(),
            site_id: r.site_id.clone(),
            category_id: r.category_id.clone(),
            location: r.lat.zip(r.lng).map_or(GeoPoint { lat: site.lat, lng: site.lng }, |(lat, lng)| GeoPoint { lat, lng }),
            submit_us: r.submit_us,
            open_primary: is_open(r.status) && r.duplicate_of.is_empty(),
        };
        let new = Candidate { location: *location, ..candidate(row) };
        let existing: Vec<Candidate> = open.iter().map(candidate).collect();
        let rule = Rule { distance_m: radius_m, window: self.settings.duplicate_window };
        Ok(duplicate::find_primary(&new, &existing, rule)
            .and_then(|m| open.into_iter().find(|r| r.id == m.primary_id).map(|r| (m, r))))
    }
}

/// Reports that may lie within `radius_m` of `location`: those in its bounding box, and those
/// without a location (which count at the site's centre) when the centre is within the radius.
fn within(location: &GeoPoint, radius_m: f64, site_centre: &GeoPoint) -> Condition {
    let area = BoundingBox::around(location, radius_m);
    let mut in_box = Condition::all().add(report::Column::Lat.between(area.lat.0, area.lat.1));
    if let Some((west, east)) = area.lng {
        in_box = in_box.add(report::Column::Lng.between(west, east));
    }
    let mut near = Condition::any().add(in_box);
    if geo::distance_m(location, site_centre) <= radius_m {
        near = near.add(report::Column::Lat.is_null()).add(report::Column::Lng.is_null());
    }
    near
}

/// The managed site of a submission: the named one, or the one whose radius covers the location.
async fn place(txn: &DatabaseTransaction, draft: &Report) -> Result<site::Model> {
    if !draft.site_id.is_empty() {
        let site = site::Entity::find_by_id(draft.site_id.clone())
            .one(txn)
            .await?
            .ok_or_else(|| Error::not_found("site", &draft.site_id))?;
        return refuse_retired("site", site.status, &site.id).map(|()| site);
    }
    let point = draft.location.unwrap_or_default();
    let dlat = MAX_SITE_RADIUS_M / METRES_PER_DEGREE_LAT;
    let nearby = site::Entity::find()
        .filter(site::Column::Status.eq(RegistryStatus::Active as i32))
        .filter(site::Column::Lat.between(point.lat - dlat, point.lat + dlat))
        .all(txn)
        .await?;
    let areas: Vec<SiteArea> = nearby
        .iter()
        .map(|s| SiteArea { id: s.id.clone(), center: GeoPoint { lat: s.lat, lng: s.lng }, radius_m: s.service_radius_m })
        .collect();
    let id = geo::covering_site(&point, &areas)
        .map(|s| s.id.clone())
        .ok_or_else(|| Error::invalid("report.location", "no managed site covers this location"))?;
    nearby.into_iter().find(|s| s.id == id).ok_or_else(|| Error::not_found("site", id))
}

/// A given zone must be an active zone of the report's site.
async fn check_zone(txn: &DatabaseTransaction, zone_id: &str, site_id: &str) -> Result<()> {
    if zone_id.is_empty() {
        return Ok(());
    }
    let z = zone::Entity::find_by_id(zone_id.to_owned())
        .one(txn)
        .await?
        .ok_or_else(|| Error::not_found("zone", zone_id))?;
    if z.site_id != site_id {
        return Err(Error::invalid("report.zone_id", format!("is not a zone of site {site_id}")));
    }
    refuse_retired("zone", z.status, &z.id)
}

/// A category that exists in the replica and is active.
pub(super) async fn active_category(txn: &DatabaseTransaction, id: &str) -> Result<category::Model> {
    let c = category::Entity::find_by_id(id.to_owned())
        .one(txn)
        .await?
        .ok_or_else(|| Error::not_found("category", id))?;
    refuse_retired("category", c.status, &c.id).map(|()| c)
}

/// FAILED_PRECONDITION for a retired site or category: it takes no new reports.
fn refuse_retired(kind: &'static str, status: i32, id: &str) -> Result<()> {
    if status != RegistryStatus::Retired as i32 {
        return Ok(());
    }
    Err(Error::FailedPrecondition {
        kind,
        id: id.to_owned(),
        state: "RETIRED".into(),
        reason: format!("the {kind} is retired and takes no new reports"),
    })
}

/// Inserts `row` under a tracking code no report has yet: 40 random bits rarely collide, and the
/// unique index turns a collision into no insert, after which another code is drawn.
async fn insert_with_unused_tracking_code(txn: &DatabaseTransaction, row: &mut report::Model) -> Result<()> {
    for _ in 0..5 {
        row.tracking_code = tracking::generate();
        let inserted = report::Entity::insert(report::ActiveModel::from(row.clone()))
            .on_conflict_do_nothing_on([report::Column::TrackingCode])
            .exec_without_returning(txn)
            .await?;
        if matches!(inserted, TryInsertResult::Inserted(1)) {
            return Ok(());
        }
    }
    Err(Error::Internal(anyhow::anyhow!("no free tracking code after 5 tries")))
}
