//! Dispatch's rules, free of I/O: the ticket state machine, crew duty times, the dispatch scorer,
//! the SLA clock arithmetic, and what valid crews and tickets are.

pub mod duty;
pub mod recurrence;
pub mod scorer;
pub mod sla;
pub mod state;
pub mod time;
pub mod validate;

/// The fields an INVALID_ARGUMENT result names, in order.
#[cfg(test)]
pub(crate) fn violated_fields<T: std::fmt::Debug>(result: flywheel_runtime::Result<T>) -> Vec<String> {
    let status = tonic::Status::from(result.unwrap_err());
    tonic_types::StatusExt::get_error_details(&status)
        .bad_request()
        .map(|b| b.field_violations.iter().map(|f| f.field.clone()).collect())
        .unwrap_or_default()
}
