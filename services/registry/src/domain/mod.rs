//! The registry's rules, free of I/O: what a valid region, site, zone, asset or category is,
//! which fields an update may touch, and when a change is allowed.

pub mod category;
pub mod geo;
pub mod lifecycle;
pub mod region;
pub mod site;
pub mod text;

pub use lifecycle::{check_active, check_version};

/// The fields an INVALID_ARGUMENT result names, in order.
#[cfg(test)]
pub(crate) fn violated_fields(result: flywheel_runtime::Result<()>) -> Vec<String> {
    let status = tonic::Status::from(result.unwrap_err());
    tonic_types::StatusExt::get_error_details(&status)
        .bad_request()
        .unwrap()
        .field_violations
        .iter()
        .map(|f| f.field.clone())
        .collect()
}
