//! The gRPC surface: reads the caller, translates requests to use cases and results to
//! responses, nothing more.

use crate::app::Feedback;
use crate::caller::Caller;
use flywheel_proto::flywheel::feedback::v1::feedback_service_server::FeedbackService;
use flywheel_proto::flywheel::feedback::v1::*;
use flywheel_runtime::grpc::correlation_id;
use tonic::{Request, Response, Status};

pub struct FeedbackApi {
    feedback: Feedback,
}

impl FeedbackApi {
    pub fn new(feedback: Feedback) -> Self {
        Self { feedback }
    }
}

fn reply<T>(result: flywheel_runtime::Result<T>) -> Result<Response<T>, Status> {
    result.map(Response::new).map_err(Status::from)
}

fn caller<T>(r: &Request<T>) -> Result<Caller, Status> {
    Caller::from_metadata(r.metadata()).map_err(Status::from)
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
        let (reports, next_page_token) = self.feedback.list_reports(r.into_inner(), &who).await?;
        Ok(Response::new(ListReportsResponse { reports, next_page_token }))
    }

    async fn support_report(&self, r: Request<SupportReportRequest>) -> Result<Response<SupportReportResponse>, Status> {
        let who = caller(&r)?;
        let (report, counted) = self.feedback.support_report(r.into_inner(), &who).await?;
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
