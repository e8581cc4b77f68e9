//! Open311 GeoReport v2 (JSON and XML) on HTTP_ADDR, mapped onto the same reports as the gRPC
//! API, so a request filed here flows through dispatch like any other.

mod format;
mod wire;

use crate::app::{Feedback, Listing};
use crate::app::ReportPage;
use crate::caller::Caller;
use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Form, Path, Query, State};
use axum::Router;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use format::Format;
use flywheel_proto::flywheel::common::v1::GeoPoint;
use flywheel_proto::flywheel::feedback::v1::{
    ListReportsRequest, Report, ReportChannel, ReportKind, ResidentContact, SubmitReportRequest, TimeRange,
};
use serde::Deserialize;
use wire::Failure;

/// Requests without dates cover the last 90 days, as the specification suggests.
const DEFAULT_DAYS: i64 = 90;

pub fn router(feedback: Feedback) -> Router {
    Router::new()
        .route("/open311/v2/{file}", get(read_collection).post(create))
        .route("/open311/v2/services/{file}", get(service_definition))
        .route("/open311/v2/requests/{file}", get(one_request))
        .with_state(feedback)
}

/// The body (a list of `item`s under `root` in XML), or the specification's error list.
fn respond<T: serde::Serialize>(format: Format, status: StatusCode, root: &str, item: &str, result: Result<T, Failure>) -> Response {
    match result {
        Ok(body) => format::render(format, status, root, item, &body),
        Err(failure) => failure.render(format),
    }
}

/// GET services.{json,xml} and requests.{json,xml}.
async fn read_collection(
    State(feedback): State<Feedback>,
    Path(file): Path<String>,
    query: Result<Query<RequestQuery>, QueryRejection>,
) -> Response {
    match format::split(&file) {
        Ok(("services", f)) => respond(f, StatusCode::OK, "services", "service", services(&feedback).await),
        Ok(("requests", f)) => respond(f, StatusCode::OK, "service_requests", "request", requests(&feedback, query).await),
        Ok((_, f)) => Failure::not_found("no such resource").render(f),
        Err(failure) => failure.render(Format::Json),
    }
}

/// POST requests.{json,xml}.
async fn create(State(feedback): State<Feedback>, Path(file): Path<String>, form: Result<Form<NewRequest>, FormRejection>) -> Response {
    match format::split(&file) {
        Ok(("requests", f)) => respond(f, StatusCode::CREATED, "service_requests", "request", create_request(&feedback, form).await),
        Ok((_, f)) => Failure::not_found("no such resource").render(f),
        Err(failure) => failure.render(Format::Json),
    }
}

async fn services(feedback: &Feedback) -> Result<Vec<wire::Service>, Failure> {
    let categories = feedback.active_categories().await?;
    Ok(categories.iter().map(wire::service).collect())
}

async fn service_definition(State(feedback): State<Feedback>, Path(file): Path<String>) -> Response {
    let (code, f) = match format::split(&file) {
        Ok(split) => split,
        Err(failure) => return failure.render(Format::Json),
    };
    let result = match feedback.category_by_code(code).await {
        Ok(Some(c)) => Ok(wire::ServiceDefinition { service_code: c.code, attributes: Vec::new() }),
        Ok(None) => Err(Failure::not_found(format!("service_code {code} not found"))),
        Err(e) => Err(e.into()),
    };
    respond(f, StatusCode::OK, "service_definition", "", result)
}

/// The form of POST requests.json.
#[derive(Deserialize)]
struct NewRequest {
    api_key: Option<String>,
    service_code: Option<String>,
    lat: Option<String>,
    long: Option<String>,
    address_string: Option<String>,
    address_id: Option<String>,
    email: Option<String>,
    first_name: Option<String>,
    last_name: Option<String>,
    phone: Option<String>,
    description: Option<String>,
    media_url: Option<String>,
}

async fn create_request(feedback: &Feedback, form: Result<Form<NewRequest>, FormRejection>) -> Result<Vec<wire::Created>, Failure> {
    let Form(form) = form.map_err(|e| Failure::bad_request(e.body_text()))?;
    let keys = &feedback.settings().open311_api_keys;
    let key = form.api_key.as_deref().unwrap_or_default();
    if !keys.is_empty() && !keys.iter().any(|k| k == key) {
        return Err(Failure::new(StatusCode::FORBIDDEN, "invalid api_key received -- can't proceed with create_request"));
    }
    let code = given(&form.service_code).ok_or_else(|| Failure::bad_request("service_code is required"))?;
    let category = feedback
        .category_by_code(code)
        .await?
        .ok_or_else(|| Failure::not_found(format!("service_code {code} not found")))?;
    let (site_id, location) = place(feedback, &form).await?;
    let name = [given(&form.first_name), given(&form.last_name)].into_iter().flatten().collect::<Vec<_>>().join(" ");
    let description = given(&form.description).map_or_else(|| category.name.clone(), str::to_owned);
    let request = SubmitReportRequest {
        report: Some(Report {
            kind: ReportKind::Complaint as i32,
            channel: ReportChannel::Open311 as i32,
            site_id,
            location,
            address: given(&form.address_string).unwrap_or_default().to_owned(),
            category_id: category.id,
            description,
            media_urls: given(&form.media_url).map(str::to_owned).into_iter().collect(),
            ..Default::default()
        }),
        contact: Some(ResidentContact {
            name,
            phone: given(&form.phone).unwrap_or_default().to_owned(),
            email: given(&form.email).unwrap_or_default().to_owned(),
        }),
        request_id: String::new(),
    };
    let corr = uuid::Uuid::now_v7().to_string();
    let report = feedback.submit_report(request, &Caller::Open311, &corr).await?;
    let notice = format!("Your tracking code is {}", report.tracking_code);
    let created = wire::Created { service_request_id: report.id, service_notice: notice, account_id: None };
    Ok(vec![created])
}

fn given(field: &Option<String>) -> Option<&str> {
    field.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

/// Where a request is: lat/long, else address_id (a site id), else an address_string matching
/// a site's registered address.
async fn place(feedback: &Feedback, form: &NewRequest) -> Result<(String, Option<GeoPoint>), Failure> {
    match (given(&form.lat), given(&form.long)) {
        (Some(lat), Some(long)) => {
            let parse = |v: &str, name: &str| {
                v.parse::<f64>().map_err(|_| Failure::bad_request(format!("{name} must be a number of degrees")))
            };
            return Ok((String::new(), Some(GeoPoint { lat: parse(lat, "lat")?, lng: parse(long, "long")? })));
        }
        (Some(_), None) | (None, Some(_)) => return Err(Failure::bad_request("lat and long must be given together")),
        (None, None) => {}
    }
    if let Some(site) = given(&form.address_id) {
        return Ok((site.to_owned(), None));
    }
    let address = given(&form.address_string)
        .ok_or_else(|| Failure::bad_request("a location is required: lat and long, address_string or address_id"))?;
    match feedback.site_by_address(address).await? {
        Some(site) => Ok((site.id, None)),
        None => Err(Failure::bad_request(format!("address_string {address:?} does not match a managed site"))),
    }
}

/// The query of GET requests.json.
#[derive(Deserialize)]
struct RequestQuery {
    service_request_id: Option<String>,
    service_code: Option<String>,
    start_date: Option<String>,
    end_date: Option<String>,
    status: Option<String>,
    page: Option<u64>,
    page_size: Option<i32>,
}

async fn requests(feedback: &Feedback, query: Result<Query<RequestQuery>, QueryRejection>) -> Result<Vec<wire::ServiceRequest>, Failure> {
    let Query(q) = query.map_err(|e| Failure::bad_request(e.body_text()))?;
    let ids: Vec<String> = given(&q.service_request_id)
        .map(|v| v.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect())
        .unwrap_or_default();
    let mut filter = ListReportsRequest { report_ids: ids.clone(), ..Default::default() };
    if let Some(code) = given(&q.service_code) {
        match feedback.category_by_code(code).await? {
            Some(c) => filter.category_id = c.id,
            None => return Err(Failure::not_found(format!("service_code {code} not found"))),
        }
    }
    if let Some(status) = given(&q.status) {
        for s in status.split(',').map(str::trim) {
            let statuses = wire::statuses(s).ok_or_else(|| Failure::bad_request("status must be open or closed"))?;
            filter.statuses.extend(statuses);
        }
    }
    let start = given(&q.start_date).map(|d| date("start_date", d)).transpose()?;
    let end = given(&q.end_date).map(|d| date("end_date", d)).transpose()?;
    let start = match (start, end, ids.is_empty()) {
        (None, None, true) => Some(chrono::Utc::now() - chrono::Duration::days(DEFAULT_DAYS)),
        (start, _, _) => start,
    };
    let stamp = |d: chrono::DateTime<chrono::Utc>| prost_types::Timestamp { seconds: d.timestamp(), nanos: 0 };
    filter.submit_time = Some(TimeRange { start_time: start.map(stamp), end_time: end.map(stamp) });
    let size = crate::app::page_size(q.page_size.unwrap_or(0))?;
    let offset = q.page.unwrap_or(1).max(1).saturating_sub(1).saturating_mul(size);
    let page = feedback.find_reports(&filter, &Caller::Open311, Listing::Offset(offset), size).await?;
    describe(feedback, page).await
}

/// A W3C date-time (with offset) or a plain date (midnight UTC).
fn date(name: &str, value: &str) -> Result<chrono::DateTime<chrono::Utc>, Failure> {
    chrono::DateTime::parse_from_rfc3339(value)
        .map(|d| d.with_timezone(&chrono::Utc))
        .or_else(|_| {
            chrono::NaiveDate::parse_from_str(value, "%Y-%m-%d")
                .map(|d| d.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc())
        })
        .map_err(|_| Failure::bad_request(format!("{name} must be a W3C date-time such as 2025-03-01T08:00:00+08:00")))
}

async fn one_request(State(feedback): State<Feedback>, Path(file): Path<String>) -> Response {
    match format::split(&file) {
        Ok((id, f)) => respond(f, StatusCode::OK, "service_requests", "request", request_by_id(&feedback, id).await),
        Err(failure) => failure.render(Format::Json),
    }
}

async fn request_by_id(feedback: &Feedback, id: &str) -> Result<Vec<wire::ServiceRequest>, Failure> {
    // The service_request_id is the report id; a resident's tracking code is accepted too.
    let found = match feedback.by_tracking_code(id).await {
        Ok(row) => row.id,
        Err(_) => id.to_owned(),
    };
    let filter = ListReportsRequest { report_ids: vec![found], ..Default::default() };
    let page = feedback.find_reports(&filter, &Caller::Open311, Listing::Offset(0), 1).await?;
    if page.reports.is_empty() {
        return Err(Failure::not_found(format!("service_request_id {id} not found")));
    }
    describe(feedback, page).await
}

async fn describe(feedback: &Feedback, page: ReportPage) -> Result<Vec<wire::ServiceRequest>, Failure> {
    let (categories, sites) = feedback.replica_by_id().await?;
    Ok(page.reports.iter().map(|r| wire::request(r, categories.get(&r.category_id), sites.get(&r.site_id))).collect())
}
