//! Feedback's rules, free of I/O: valid submissions, where a report is, duplicates, surveys,
//! and how ticket events move a report's public status.

pub mod duplicate;
pub mod geo;
pub mod rate;
pub mod report;
pub mod status;
pub mod survey;
pub mod tracking;

/// The fields an INVALID_ARGUMENT result names, in order.
#[cfg(test)]
pub(crate) fn violated_fields<T: std::fmt::Debug>(result: flywheel_runtime::Result<T>) -> Vec<String> {
    let status = tonic::Status::from(result.unwrap_err());
    tonic_types::StatusExt::get_error_details(&status)
        .bad_request()
        .map(|b| b.field_violations.iter().map(|f| f.field.clone()).collect())
        .unwrap_or_default()
}
