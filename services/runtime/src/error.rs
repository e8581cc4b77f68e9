//! The one place where domain errors become gRPC statuses (AIP-193).

use sea_orm::{DbErr, SqlErr};
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// A field that failed validation: its path in the request (`site.location.lat`) and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldViolation {
    pub field: String,
    pub description: String,
}

/// Every way a Flywheel call can fail, in domain terms.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid argument: {}", describe(.0))]
    InvalidArgument(Vec<FieldViolation>),
    #[error("{kind} {id} not found")]
    NotFound { kind: &'static str, id: String },
    #[error("{kind} with {field} {value:?} already exists")]
    AlreadyExists {
        kind: &'static str,
        field: &'static str,
        value: String,
    },
    /// The resource's state forbids the operation; `state` names the current state.
    #[error("{kind} {id} is {state}: {reason}")]
    FailedPrecondition {
        kind: &'static str,
        id: String,
        state: String,
        reason: String,
    },
    #[error("{kind} {id} is at version {current}, not {expected}")]
    Aborted {
        kind: &'static str,
        id: String,
        current: i64,
        expected: i64,
    },
    #[error("{0}")]
    Unauthenticated(String),
    #[error("{0}")]
    PermissionDenied(String),
    #[error("{0}")]
    ResourceExhausted(String),
    #[error("{0}")]
    Unavailable(String),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

fn describe(violations: &[FieldViolation]) -> String {
    violations
        .iter()
        .map(|v| format!("{}: {}", v.field, v.description))
        .collect::<Vec<_>>()
        .join("; ")
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn not_found(kind: &'static str, id: impl Into<String>) -> Self {
        Self::NotFound { kind, id: id.into() }
    }

    pub fn invalid(field: impl Into<String>, description: impl Into<String>) -> Self {
        Self::InvalidArgument(vec![FieldViolation {
            field: field.into(),
            description: description.into(),
        }])
    }
}

impl From<DbErr> for Error {
    fn from(err: DbErr) -> Self {
        match err {
            DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => {
                tracing::warn!(error = %err, "database unavailable");
                Self::Unavailable("the database is unavailable; retry later".into())
            }
            // SQLSTATE class 22, "data exception": a value the database cannot hold (a NUL
            // character in text, a number out of range) — the caller's input, not our fault.
            other if sqlstate(&other).is_some_and(|code| code.starts_with("22")) => {
                Self::invalid("", "a value in the request cannot be stored (e.g. a NUL character or a number out of range)")
            }
            other => Self::Internal(other.into()),
        }
    }
}

fn sqlstate(err: &DbErr) -> Option<String> {
    use sea_orm::RuntimeErr;
    match err {
        DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) => match e.as_ref() {
            sea_orm::sqlx::Error::Database(db) => db.code().map(|c| c.into_owned()),
            _ => None,
        },
        _ => None,
    }
}

/// Whether a database error is a unique-constraint violation (a concurrent insert won the race).
pub fn is_unique_violation(err: &DbErr) -> bool {
    matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_)))
}

/// Echoed input is cut to this many bytes: statuses travel in HTTP/2 headers, and a client's
/// header limit (16 KiB by default) must not turn a huge id into a protocol error.
const ECHO_BYTES: usize = 128;
/// Violations reported in one status, at most.
const MAX_VIOLATIONS: usize = 16;
/// The longest status message, in bytes (non-ASCII is percent-encoded on the wire, up to 3×).
const MESSAGE_BYTES: usize = 1024;

fn clip_to(s: String, max: usize) -> String {
    if s.len() <= max {
        return s;
    }
    let end = (0..=max).rev().find(|&i| s.is_char_boundary(i)).unwrap_or(0);
    format!("{}…", &s[..end])
}

fn clip(s: String) -> String {
    clip_to(s, ECHO_BYTES)
}

impl Error {
    /// The same error with every echoed value cut short.
    fn clipped(self) -> Self {
        match self {
            Self::InvalidArgument(mut violations) => {
                violations.truncate(MAX_VIOLATIONS);
                Self::InvalidArgument(
                    violations
                        .into_iter()
                        .map(|v| FieldViolation { field: clip(v.field), description: clip(v.description) })
                        .collect(),
                )
            }
            Self::NotFound { kind, id } => Self::NotFound { kind, id: clip(id) },
            Self::AlreadyExists { kind, field, value } => Self::AlreadyExists { kind, field, value: clip(value) },
            Self::FailedPrecondition { kind, id, state, reason } => {
                Self::FailedPrecondition { kind, id: clip(id), state, reason }
            }
            Self::Aborted { kind, id, current, expected } => Self::Aborted { kind, id: clip(id), current, expected },
            other => other,
        }
    }
}

impl From<Error> for Status {
    fn from(err: Error) -> Self {
        let err = err.clipped();
        let message = clip_to(err.to_string(), MESSAGE_BYTES);
        match err {
            Error::InvalidArgument(violations) => {
                let details = ErrorDetails::with_bad_request(
                    violations
                        .into_iter()
                        .map(|v| tonic_types::FieldViolation::new(v.field, v.description))
                        .collect::<Vec<_>>(),
                );
                Status::with_error_details(Code::InvalidArgument, message, details)
            }
            Error::NotFound { kind, id } => Status::with_error_details(
                Code::NotFound,
                message,
                ErrorDetails::with_resource_info(kind, id, "", "not found"),
            ),
            Error::AlreadyExists { kind, value, .. } => Status::with_error_details(
                Code::AlreadyExists,
                message,
                ErrorDetails::with_resource_info(kind, value, "", "already exists"),
            ),
            Error::FailedPrecondition {
                kind, id, state, reason,
            } => Status::with_error_details(
                Code::FailedPrecondition,
                message,
                ErrorDetails::with_precondition_failure_violation(
                    format!("STATE_{state}"),
                    format!("{kind}/{id}"),
                    reason,
                ),
            ),
            Error::Aborted { .. } => Status::aborted(message),
            Error::Unauthenticated(_) => Status::unauthenticated(message),
            Error::PermissionDenied(_) => Status::permission_denied(message),
            Error::ResourceExhausted(_) => Status::resource_exhausted(message),
            Error::Unavailable(_) => Status::unavailable(message),
            Error::Internal(source) => {
                // The caller gets a correlation id; the cause stays in our logs.
                let correlation = uuid::Uuid::now_v7();
                tracing::error!(%correlation, error = ?source, "internal error");
                Status::internal(format!("internal error (correlation id {correlation})"))
            }
        }
    }
}

/// Collects every violation of a request before failing, so a client sees all its mistakes at once.
#[derive(Default, Debug)]
pub struct Violations(Vec<FieldViolation>);

impl Violations {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add(&mut self, field: impl Into<String>, description: impl Into<String>) {
        self.0.push(FieldViolation {
            field: field.into(),
            description: description.into(),
        });
    }

    /// Records a violation when `ok` is false.
    pub fn check(&mut self, ok: bool, field: impl Into<String>, description: impl Into<String>) {
        if !ok {
            self.add(field, description);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `Ok(value)` when nothing was violated, otherwise INVALID_ARGUMENT with every violation.
    pub fn finish<T>(self, value: T) -> Result<T> {
        if self.0.is_empty() {
            Ok(value)
        } else {
            Err(Error::InvalidArgument(self.0))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_argument_carries_each_field() {
        let mut v = Violations::new();
        v.add("site.name", "must not be empty");
        v.add("site.location.lat", "must be within -90..90");
        let status = Status::from(v.finish(()).unwrap_err());
        assert_eq!(status.code(), Code::InvalidArgument);
        let details = status.get_error_details();
        let fields: Vec<_> = details
            .bad_request()
            .unwrap()
            .field_violations
            .iter()
            .map(|f| f.field.clone())
            .collect();
        assert_eq!(fields, ["site.name", "site.location.lat"]);
    }

    #[test]
    fn echoed_values_are_cut_short() {
        let huge = "é".repeat(100_000);
        let status = Status::from(Error::not_found("site", huge.clone()));
        assert!(status.message().len() < 200, "{} bytes", status.message().len());
        assert!(status.details().len() < 1024);
        let status = Status::from(Error::InvalidArgument(
            (0..1000).map(|i| FieldViolation { field: format!("f{i}"), description: huge.clone() }).collect(),
        ));
        assert!(3 * status.message().len() + 4 * status.details().len() / 3 < 12 * 1024);
        assert_eq!(status.get_error_details().bad_request().unwrap().field_violations.len(), MAX_VIOLATIONS);
    }

    #[test]
    fn internal_hides_the_cause() {
        let status = Status::from(Error::Internal(anyhow::anyhow!("password=hunter2 at db")));
        assert_eq!(status.code(), Code::Internal);
        assert!(!status.message().contains("hunter2"));
        assert!(status.message().contains("correlation id"));
    }

    #[test]
    fn codes_follow_the_table() {
        let cases = [
            (Error::not_found("site", "s1"), Code::NotFound),
            (
                Error::AlreadyExists { kind: "site", field: "code", value: "x".into() },
                Code::AlreadyExists,
            ),
            (
                Error::FailedPrecondition {
                    kind: "site",
                    id: "s1".into(),
                    state: "RETIRED".into(),
                    reason: "already retired".into(),
                },
                Code::FailedPrecondition,
            ),
            (
                Error::Aborted { kind: "site", id: "s1".into(), current: 3, expected: 2 },
                Code::Aborted,
            ),
            (Error::Unavailable("db".into()), Code::Unavailable),
            (Error::ResourceExhausted("slow down".into()), Code::ResourceExhausted),
        ];
        for (err, code) in cases {
            assert_eq!(Status::from(err).code(), code);
        }
    }

    #[test]
    fn failed_precondition_names_the_state() {
        let status = Status::from(Error::FailedPrecondition {
            kind: "site",
            id: "s1".into(),
            state: "RETIRED".into(),
            reason: "already retired".into(),
        });
        assert!(status.message().contains("RETIRED"));
    }
}
