//! The gRPC surface: reads the caller, translates requests to use cases and results to
//! responses, nothing more.

use crate::app::Feedback;
use crate::caller::Caller;
use flywheel_proto::flywheel::feedback::v1::feedback_service_server::FeedbackService;
use flywheel_proto::flywheel::feedback::v1::*;
use flywheel_runtime::auth::Principal;
use flywheel_runtime::grpc::correlation_id;
use std::time::Duration;
use tonic::{Code, Request, Response, Status};
use tonic_types::{ErrorDetails, StatusExt};

pub struct FeedbackApi {
    feedback: Feedback,
}

impl FeedbackApi {
    pub fn new(feedback: Feedback) -> Self {
        Self { feedback }
    }
}

fn reply<T>(result: flywheel_runtime::Result<T>) -> Result<Response<T>, Status> {
    result.map(Response::new).map_err(status)
}

/// The runtime's mapping, plus the RetryInfo the contract promises with a rate limit.
fn status(err: flywheel_runtime::Error) -> Status {
    match err {
        flywheel_runtime::Error::ResourceExhausted(message) => {
            let details = ErrorDetails::with_retry_info(Some(RATE_LIMIT_RETRY));
            Status::with_error_details(Code::ResourceExhausted, message, details)
        }
        other => Status::from(other),
    }
}

/// How long a rate-limited caller should wait: the limits count over sliding windows, so a
/// minute frees at least the channel's share.
const RATE_LIMIT_RETRY: Duration = Duration::from_secs(60);

fn caller<T>(r: &Request<T>) -> Result<Caller, Status> {
    Principal::of(r).map(Caller::of)
}

#[tonic::async_trait]
impl FeedbackService for FeedbackApi {
    async fn submit_report(&self, r: Request<SubmitReportRequest>) -> Result<Response<Report>, Status> {
        let (who, corr) = (caller(&r)?, correlation_id(&r));
        reply(self.feedback.submit_report(r.into_inner(), &who, &corr).await)
    }

    async fn get_report(&self, r: Request<GetReportRequest>) -> Result<Response<Report>, Status> {
        let who = caller(&r)?;
        reply(self.feedback.get_report(r.into_inner(), &who).await)
    }

    async fn list_reports(&self, r: Request<ListReportsRequest>) -> Result<Response<ListReportsResponse>, Status> {
        let who = caller(&r)?;
        let (reports, next_page_token) = self.feedback.list_reports(r.into_inner(), &who).await.map_err(status)?;
        Ok(Response::new(ListReportsResponse { reports, next_page_token }))
    }

    async fn support_report(&self, r: Request<SupportReportRequest>) -> Result<Response<SupportReportResponse>, Status> {
        let who = caller(&r)?;
        let (report, counted) = self.feedback.support_report(r.into_inner(), &who).await.map_err(status)?;
        Ok(Response::new(SupportReportResponse { report: Some(report), counted }))
    }

    async fn rate_resolution(&self, r: Request<RateResolutionRequest>) -> Result<Response<Report>, Status> {
        let who = caller(&r)?;
        reply(self.feedback.rate_resolution(r.into_inner(), &who).await)
    }

    async fn classify_report(&self, r: Request<ClassifyReportRequest>) -> Result<Response<Report>, Status> {
        let who = caller(&r)?;
        reply(self.feedback.classify_report(r.into_inner(), &who).await)
    }

    async fn close_report(&self, r: Request<CloseReportRequest>) -> Result<Response<Report>, Status> {
        let who = caller(&r)?;
        reply(self.feedback.close_report(r.into_inner(), &who).await)
    }

    async fn get_report_contact(
        &self,
        r: Request<GetReportContactRequest>,
    ) -> Result<Response<GetReportContactResponse>, Status> {
        let who = caller(&r)?;
        reply(self.feedback.get_report_contact(&r.into_inner().report_id, &who).await)
    }
}
