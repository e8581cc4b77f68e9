//! Filing a report: place it on a managed site, classify it when a category is given, apply the
//! rate limits, link it to an open report it repeats, and keep the contact details apart.

use super::status::{Move, move_status};
use super::{Feedback, new_id};
use crate::caller::Caller;
use crate::domain::duplicate::{self, Candidate, Rule};
use crate::domain::geo::{self, METRES_PER_DEGREE_LAT, SiteArea};
use crate::domain::{report as rules, status::is_open, tracking};
use crate::events;
use crate::store::entities::{category, contact, report, support, zone};
use crate::store::{self, entities::site};
use flywheel_proto::flywheel::common::v1::GeoPoint;
use flywheel_proto::flywheel::feedback::v1::{
    DuplicateRule, Report, ReportStatus, ResidentContact, StatusChangeCause, SubmitReportRequest,
};
use flywheel_proto::flywheel::registry::v1::Status as RegistryStatus;
use flywheel_runtime::db::now_micros;
use flywheel_runtime::events::OutgoingEvent;
use flywheel_runtime::{Error, Result};
use sea_orm::{ActiveModelTrait, ColumnTrait, DatabaseTransaction, EntityTrait, PaginatorTrait, QueryFilter};

/// The widest service radius the registry allows, to narrow the site search.
const MAX_SITE_RADIUS_M: f64 = 50_000.0;
const HOUR_US: i64 = 3_600_000_000;
const MINUTE_US: i64 = 60_000_000;

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
        let id = self
            .writer
            .write_once(&scope, &req.request_id, async |txn| {
                self.file(txn, &draft, req.contact.clone(), caller, corr).await
            })
            .await?;
        let report = store::snapshot(self.db(), store::load_report(self.db(), &id).await?).await?;
        Ok(crate::convert::for_caller(report, caller))
    }

    async fn file(
        &self,
        txn: &DatabaseTransaction,
        draft: &Report,
        contact: Option<ResidentContact>,
        caller: &Caller,
        corr: &str,
    ) -> Result<(String, Vec<OutgoingEvent>)> {
        let site = place(txn, draft).await?;
        check_zone(txn, &draft.zone_id, &site.id).await?;
        let category = match draft.category_id.as_str() {
            "" => None,
            id => Some(active_category(txn, id).await?),
        };
        let resident_id = caller.resident_id().map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_owned);
        let now = now_micros();
        self.check_rate_limits(txn, caller.resident_id(), draft.channel, now).await?;

        let priority_hint = match &category {
            None => 0,
            Some(_) if rules::may_set_priority(draft.channel) && draft.priority_hint != 0 => draft.priority_hint,
            Some(c) => c.default_priority,
        };
        let location = draft.location.unwrap_or(GeoPoint { lat: site.lat, lng: site.lng });
        let mut row = report::Model {
            id: new_id(),
            tracking_code: unused_tracking_code(txn).await?,
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
        report::ActiveModel::from(row.clone()).insert(txn).await?;
        store::append_step(txn, &row.id, row.status, "", now).await?;
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
        let filed = store::snapshot(txn, row.clone()).await?;
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
                out.extend(move_status(txn, row.clone(), m).await?.1);
            }
        }
        Ok((row.id, out))
    }

    /// RESOURCE_EXHAUSTED when the resident or the channel has filed too much lately.
    async fn check_rate_limits(&self, txn: &DatabaseTransaction, resident: Option<&str>, channel: i32, now: i64) -> Result<()> {
        if let Some(resident) = resident {
            let reports = report::Entity::find()
                .filter(report::Column::ResidentId.eq(resident))
                .filter(report::Column::SubmitUs.gt(now - HOUR_US))
                .count(txn)
                .await?;
            let supports = support::Entity::find()
                .filter(support::Column::ResidentId.eq(resident))
                .filter(support::Column::TimeUs.gt(now - HOUR_US))
                .count(txn)
                .await?;
            if reports + supports >= self.settings.per_resident_per_hour {
                return Err(Error::ResourceExhausted(format!(
                    "at most {} reports and supports per resident per hour; retry later",
                    self.settings.per_resident_per_hour
                )));
            }
        }
        let on_channel = report::Entity::find()
            .filter(report::Column::Channel.eq(channel))
            .filter(report::Column::SubmitUs.gt(now - MINUTE_US))
            .count(txn)
            .await?;
        if on_channel >= self.settings.per_channel_per_minute {
            return Err(Error::ResourceExhausted(format!(
                "at most {} reports per channel per minute; retry later",
                self.settings.per_channel_per_minute
            )));
        }
        Ok(())
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
        let open: Vec<report::Model> = report::Entity::find()
            .filter(report::Column::SiteId.eq(&row.site_id))
            .filter(report::Column::CategoryId.eq(&row.category_id))
            .filter(report::Column::DuplicateOf.eq(""))
            .filter(report::Column::SubmitUs.gte(row.submit_us - window_us))
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
        let rule = Rule { distance_m: self.settings.duplicate_radius_m, window: self.settings.duplicate_window };
        Ok(duplicate::find_primary(&new, &existing, rule)
            .and_then(|m| open.into_iter().find(|r| r.id == m.primary_id).map(|r| (m, r))))
    }
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

/// A tracking code no report has yet (40 random bits rarely collide; checked all the same).
async fn unused_tracking_code(txn: &DatabaseTransaction) -> Result<String> {
    for _ in 0..5 {
        let code = tracking::generate();
        let taken = report::Entity::find().filter(report::Column::TrackingCode.eq(&code)).count(txn).await?;
        if taken == 0 {
            return Ok(code);
        }
    }
    Err(Error::Internal(anyhow::anyhow!("no free tracking code after 5 tries")))
}
