//! Tracking and listing reports.

use super::Feedback;
use crate::caller::Caller;
use crate::convert::{self, micros};
use crate::domain::geo::{self, METRES_PER_DEGREE_LAT, check_point};
use crate::domain::{status::is_open, tracking};
use crate::store::entities::report;
use crate::store;
use flywheel_proto::flywheel::common::v1::GeoPoint;
use flywheel_proto::flywheel::feedback::v1::{
    GetReportRequest, ListReportsRequest, Report, ReportStatus, get_report_request::Lookup,
};
use flywheel_runtime::{Error, Result, Violations, pagination};
use sea_orm::{ColumnTrait, DbBackend, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Select};

pub const MAX_PAGE_SIZE: u64 = 200;
const MAX_REPORT_IDS: usize = 100;

/// Where a listing starts: after a cursor (gRPC) or at an offset (Open311 page numbers).
pub enum Listing {
    After(Option<String>),
    Offset(u64),
}

pub struct ReportPage {
    pub reports: Vec<Report>,
    /// The id to continue after, when more follow.
    pub more_after: Option<String>,
}

impl Feedback {
    pub async fn get_report(&self, req: GetReportRequest, caller: &Caller) -> Result<Report> {
        let row = match req.lookup {
            Some(Lookup::Id(id)) if !id.is_empty() => store::load_report(self.db(), &id).await?,
            Some(Lookup::TrackingCode(code)) if !code.is_empty() => self.by_tracking_code(&code).await?,
            _ => return Err(Error::invalid("lookup", "give either id or tracking_code")),
        };
        Ok(convert::for_caller(store::snapshot(self.db(), row).await?, caller))
    }

    pub async fn by_tracking_code(&self, typed: &str) -> Result<report::Model> {
        let code = tracking::normalise(typed).ok_or_else(|| Error::not_found("report", typed))?;
        report::Entity::find()
            .filter(report::Column::TrackingCode.eq(code))
            .one(self.db())
            .await?
            .ok_or_else(|| Error::not_found("report", typed))
    }

    /// The gRPC listing: cursor pages bound to the filters.
    pub async fn list_reports(&self, req: ListReportsRequest, caller: &Caller) -> Result<(Vec<Report>, String)> {
        let fp = fingerprint(&req);
        let after = pagination::decode_token(&req.page_token, fp)?;
        let size = page_size(req.page_size)?;
        let page = self.find_reports(&req, caller, Listing::After(after), size).await?;
        let token = page.more_after.map(|id| pagination::encode_token(&id, fp)).unwrap_or_default();
        Ok((page.reports, token))
    }

    /// Reports matching every filter of `req`, newest first, as `caller` may see them.
    pub async fn find_reports(
        &self,
        req: &ListReportsRequest,
        caller: &Caller,
        from: Listing,
        size: u64,
    ) -> Result<ReportPage> {
        validate(req)?;
        let mut select = filtered(req, caller, self.db().get_database_backend());
        select = select.order_by_desc(report::Column::Id);
        select = match from {
            Listing::After(Some(id)) => select.filter(report::Column::Id.lt(id)),
            Listing::After(None) => select,
            Listing::Offset(n) => select.offset(n),
        };
        let mut rows = select.limit(size + 1).all(self.db()).await?;
        let more = rows.len() as u64 > size;
        rows.truncate(size as usize);
        let more_after = more.then(|| rows.last().map(|r| r.id.clone())).flatten();
        let mut reports = Vec::with_capacity(rows.len());
        for row in rows {
            if within(req, &row) {
                reports.push(convert::for_caller(store::snapshot(self.db(), row).await?, caller));
            }
        }
        Ok(ReportPage { reports, more_after })
    }
}

pub fn page_size(requested: i32) -> Result<u64> {
    Ok(pagination::page_size(requested)?.min(MAX_PAGE_SIZE))
}

fn validate(req: &ListReportsRequest) -> Result<()> {
    let mut v = Violations::new();
    if let Some(near) = &req.near {
        match &near.center {
            Some(c) => check_point(&mut v, "near.center", c),
            None => v.add("near.center", "is required"),
        }
        v.check(near.radius_m > 0.0 && near.radius_m <= 5000.0, "near.radius_m", "must be within (0, 5000] metres");
    }
    v.check(!req.open_only_nearby || req.near.is_some(), "near", "is required with open_only_nearby");
    if let Some(range) = &req.submit_time
        && let (Some(start), Some(end)) = (&range.start_time, &range.end_time)
    {
        v.check(micros(end) > micros(start), "submit_time.end_time", "must be after start_time");
    }
    v.check(req.report_ids.len() <= MAX_REPORT_IDS, "report_ids", format!("must hold at most {MAX_REPORT_IDS} ids"));
    v.finish(())
}

fn fingerprint(req: &ListReportsRequest) -> u64 {
    let near = req.near.as_ref().map(|n| format!("{:?}", n)).unwrap_or_default();
    let time = req.submit_time.as_ref().map(|t| format!("{:?}", t)).unwrap_or_default();
    pagination::fingerprint(&[
        &req.site_id,
        &req.region_id,
        &format!("{:?}", req.statuses),
        &format!("{:?}", req.kinds),
        &req.category_id,
        &format!("{:?}", req.unclassified),
        &req.channel,
        &time,
        &req.resident_id,
        &req.ticket_id,
        &near,
        &req.open_only_nearby,
        &req.report_ids.join(","),
    ])
}

/// The SQL side of the filters (the circle is narrowed to a box here, then checked exactly).
fn filtered(req: &ListReportsRequest, caller: &Caller, backend: DbBackend) -> Select<report::Entity> {
    let mut s = report::Entity::find();
    match caller {
        Caller::Resident(id) if !req.open_only_nearby => s = s.filter(report::Column::ResidentId.eq(id.as_str())),
        Caller::Staff(_) if !req.resident_id.is_empty() => {
            s = s.filter(report::Column::ResidentId.eq(req.resident_id.as_str()))
        }
        _ => {}
    }
    if req.open_only_nearby {
        let open = [ReportStatus::Submitted, ReportStatus::Accepted, ReportStatus::InProgress, ReportStatus::Reopened];
        s = s
            .filter(report::Column::Status.is_in(open.map(|o| o as i32)))
            .filter(report::Column::DuplicateOf.eq(""));
    }
    if !req.site_id.is_empty() {
        s = s.filter(report::Column::SiteId.eq(req.site_id.as_str()));
    }
    if !req.region_id.is_empty() {
        s = s.filter(report::Column::RegionPath.like(format!("%/{}/%", req.region_id.replace(['%', '_'], ""))));
    }
    if !req.statuses.is_empty() {
        s = s.filter(report::Column::Status.is_in(req.statuses.clone()));
    }
    if !req.kinds.is_empty() {
        s = s.filter(report::Column::Kind.is_in(req.kinds.clone()));
    }
    if !req.category_id.is_empty() {
        s = s.filter(report::Column::CategoryId.eq(req.category_id.as_str()));
    }
    match req.unclassified {
        Some(true) => s = s.filter(report::Column::CategoryId.eq("")),
        Some(false) => s = s.filter(report::Column::CategoryId.ne("")),
        None => {}
    }
    if req.channel != 0 {
        s = s.filter(report::Column::Channel.eq(req.channel));
    }
    if let Some(range) = &req.submit_time {
        if let Some(start) = &range.start_time {
            s = s.filter(report::Column::SubmitUs.gte(micros(start)));
        }
        if let Some(end) = &range.end_time {
            s = s.filter(report::Column::SubmitUs.lt(micros(end)));
        }
    }
    if !req.ticket_id.is_empty() {
        s = s.filter(store::linked_to(backend, &[req.ticket_id.as_str()]));
    }
    if !req.report_ids.is_empty() {
        s = s.filter(report::Column::Id.is_in(req.report_ids.clone()));
    }
    if let Some(center) = req.near.as_ref().and_then(|n| n.center.as_ref()) {
        let dlat = req.near.as_ref().map_or(0.0, |n| n.radius_m) / METRES_PER_DEGREE_LAT * 1.01;
        s = s.filter(report::Column::Lat.between(center.lat - dlat, center.lat + dlat));
    }
    s
}

/// The exact circle check the box could not do.
fn within(req: &ListReportsRequest, row: &report::Model) -> bool {
    let Some(near) = &req.near else { return true };
    let (Some(center), Some(lat), Some(lng)) = (&near.center, row.lat, row.lng) else { return false };
    let open_ok = !req.open_only_nearby || is_open(row.status);
    open_ok && geo::distance_m(center, &GeoPoint { lat, lng }) <= near.radius_m
}
