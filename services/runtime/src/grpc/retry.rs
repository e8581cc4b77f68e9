//! Calling a service whose local replica of another context may still be catching up.

use std::future::Future;
use std::time::{Duration, Instant};
use tonic::Code;

/// Runs `call` until it succeeds, retrying for up to a minute while the other side's replica has
/// not caught up yet (NOT_FOUND, FAILED_PRECONDITION, INVALID_ARGUMENT naming an id it does not
/// know yet, UNAVAILABLE).
pub async fn retry_while_replicating<F, Fut>(mut call: F) -> anyhow::Result<()>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), tonic::Status>>,
{
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match call().await {
            Ok(()) => return Ok(()),
            Err(s) if matches!(s.code(), Code::NotFound | Code::FailedPrecondition | Code::Unavailable | Code::InvalidArgument)
                && Instant::now() < deadline =>
            {
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            Err(s) => return Err(s.into()),
        }
    }
}
