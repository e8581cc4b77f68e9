//! The GeoReport v2 shapes: field names and formats exactly as the specification spells them.

use crate::store::entities::{category, site};
use super::format::Format;
use axum::http::StatusCode;
use axum::response::Response;
use flywheel_proto::flywheel::feedback::v1::{Report, ReportStatus};
use serde::Serialize;

/// One entry of GET services.json.
#[derive(Serialize)]
pub struct Service {
    pub service_code: String,
    pub service_name: String,
    pub description: String,
    /// Whether GET services/{code}.json has attributes to fill in (never, here).
    pub metadata: bool,
    /// "realtime": a request gets its own service_request_id at once.
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub keywords: String,
    pub group: String,
}

pub fn service(c: &category::Model) -> Service {
    Service {
        service_code: c.code.clone(),
        service_name: c.name.clone(),
        description: c.description.clone(),
        metadata: false,
        kind: "realtime",
        keywords: String::new(),
        group: scenario_group(c.dimension, c.perspective),
    }
}

/// The scenario cell as a group name, e.g. "ASSETS / LIVING".
fn scenario_group(dimension: i32, perspective: i32) -> String {
    use flywheel_proto::flywheel::common::v1::{Dimension, Perspective};
    let d = Dimension::try_from(dimension).map(|d| d.as_str_name().trim_start_matches("DIMENSION_")).unwrap_or("");
    let p = Perspective::try_from(perspective).map(|p| p.as_str_name().trim_start_matches("PERSPECTIVE_")).unwrap_or("");
    format!("{d} / {p}")
}

/// GET services/{code}.json: the service definition.
#[derive(Serialize)]
pub struct ServiceDefinition {
    pub service_code: String,
    pub attributes: Vec<serde_json::Value>,
}

/// The answer to POST requests.json.
#[derive(Serialize)]
pub struct Created {
    pub service_request_id: String,
    pub service_notice: String,
    pub account_id: Option<String>,
}

/// One service request as GET requests.json shows it.
#[derive(Serialize)]
pub struct ServiceRequest {
    pub service_request_id: String,
    pub status: &'static str,
    pub status_notes: Option<String>,
    pub service_name: Option<String>,
    pub service_code: Option<String>,
    pub description: String,
    pub agency_responsible: Option<String>,
    pub service_notice: Option<String>,
    pub requested_datetime: String,
    pub updated_datetime: String,
    pub expected_datetime: Option<String>,
    pub address: Option<String>,
    pub address_id: Option<String>,
    pub zipcode: Option<String>,
    pub lat: Option<f64>,
    pub long: Option<f64>,
    pub media_url: Option<String>,
}

/// Open311's two states: RESOLVED and CLOSED reports are "closed", the rest "open".
pub fn status(report_status: i32) -> &'static str {
    if report_status == ReportStatus::Resolved as i32 || report_status == ReportStatus::Closed as i32 {
        "closed"
    } else {
        "open"
    }
}

/// The statuses an Open311 `status` value stands for.
pub fn statuses(open311: &str) -> Option<Vec<i32>> {
    let open = [ReportStatus::Submitted, ReportStatus::Accepted, ReportStatus::InProgress, ReportStatus::Reopened];
    match open311 {
        "open" => Some(open.iter().map(|s| *s as i32).collect()),
        "closed" => Some(vec![ReportStatus::Resolved as i32, ReportStatus::Closed as i32]),
        _ => None,
    }
}

pub fn request(r: &Report, category: Option<&category::Model>, site: Option<&site::Model>) -> ServiceRequest {
    let note = r.timeline.iter().rev().map(|t| t.note.as_str()).find(|n| !n.is_empty());
    let location = r.location.or_else(|| {
        site.map(|s| flywheel_proto::flywheel::common::v1::GeoPoint { lat: s.lat, lng: s.lng })
    });
    let address = Some(r.address.clone()).filter(|a| !a.is_empty()).or_else(|| {
        site.map(|s| s.address.clone()).filter(|a| !a.is_empty())
    });
    ServiceRequest {
        service_request_id: r.id.clone(),
        status: status(r.status),
        status_notes: note.map(str::to_owned),
        service_name: category.map(|c| c.name.clone()),
        service_code: category.map(|c| c.code.clone()),
        description: r.description.clone(),
        agency_responsible: site.map(|s| s.name.clone()),
        service_notice: None,
        requested_datetime: datetime(r.submit_time.as_ref()).unwrap_or_default(),
        updated_datetime: datetime(r.update_time.as_ref()).unwrap_or_default(),
        expected_datetime: datetime(r.expected_resolve_time.as_ref()),
        address,
        address_id: Some(r.site_id.clone()).filter(|s| !s.is_empty()),
        zipcode: None,
        lat: location.as_ref().map(|p| p.lat),
        long: location.as_ref().map(|p| p.lng),
        media_url: r.media_urls.first().cloned(),
    }
}

/// W3C (ISO 8601) date-time with an explicit offset, e.g. "2025-03-01T08:15:02+00:00".
pub fn datetime(t: Option<&prost_types::Timestamp>) -> Option<String> {
    let t = t?;
    chrono::DateTime::from_timestamp(t.seconds, t.nanos.max(0) as u32)
        .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Secs, false))
}

/// An Open311 failure: the specification's array of {code, description} with the HTTP status.
#[derive(Debug)]
pub struct Failure {
    pub status: StatusCode,
    pub description: String,
}

impl Failure {
    pub fn new(status: StatusCode, description: impl Into<String>) -> Self {
        Self { status, description: description.into() }
    }

    pub fn bad_request(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, description)
    }

    pub fn not_found(description: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, description)
    }
}

#[derive(Serialize)]
struct ErrorEntry {
    code: u16,
    description: String,
}

impl Failure {
    /// The specification's error list in `format`.
    pub fn render(self, format: Format) -> Response {
        let body = vec![ErrorEntry { code: self.status.as_u16(), description: self.description }];
        super::format::render(format, self.status, "errors", "error", &body)
    }
}

impl From<flywheel_runtime::Error> for Failure {
    fn from(e: flywheel_runtime::Error) -> Self {
        use flywheel_runtime::Error as E;
        let status = match &e {
            E::InvalidArgument(_) | E::FailedPrecondition { .. } | E::Aborted { .. } | E::AlreadyExists { .. } => {
                StatusCode::BAD_REQUEST
            }
            E::NotFound { .. } => StatusCode::NOT_FOUND,
            E::Unauthenticated(_) | E::PermissionDenied(_) => StatusCode::FORBIDDEN,
            E::ResourceExhausted(_) => StatusCode::TOO_MANY_REQUESTS,
            E::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            E::Internal(_) => {
                // The same hiding of internals as on gRPC: the cause goes to the log only.
                let status = tonic::Status::from(e);
                return Self::new(StatusCode::INTERNAL_SERVER_ERROR, status.message());
            }
        };
        Self::new(status, e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_fold_into_open_and_closed() {
        assert_eq!(status(ReportStatus::InProgress as i32), "open");
        assert_eq!(status(ReportStatus::Reopened as i32), "open");
        assert_eq!(status(ReportStatus::Resolved as i32), "closed");
        assert_eq!(statuses("closed").unwrap(), [ReportStatus::Resolved as i32, ReportStatus::Closed as i32]);
        assert!(statuses("pending").is_none());
    }

    #[test]
    fn datetimes_carry_an_offset() {
        let t = prost_types::Timestamp { seconds: 1_740_816_902, nanos: 5 };
        assert_eq!(datetime(Some(&t)).unwrap(), "2025-03-01T08:15:02+00:00");
    }
}
