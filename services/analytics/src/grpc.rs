//! The gRPC surface: translates requests to use cases and results to responses, nothing more.
//! Who may call is decided before, by the runtime's gate and [`crate::access::RULES`].

use crate::app::{Analytics, ExportChunk};
use flywheel_proto::flywheel::analytics::v1::analytics_service_server::AnalyticsService;
use flywheel_proto::flywheel::analytics::v1::*;
use std::pin::Pin;
use tonic::{Request, Response, Status};

pub struct AnalyticsApi {
    analytics: Analytics,
}

impl AnalyticsApi {
    pub fn new(analytics: Analytics) -> Self {
        Self { analytics }
    }
}

fn reply<T>(result: flywheel_runtime::Result<T>) -> Result<Response<T>, Status> {
    result.map(Response::new).map_err(Status::from)
}

type ChunkStream = Pin<Box<dyn tokio_stream::Stream<Item = Result<ExportChunk, Status>> + Send>>;

#[tonic::async_trait]
impl AnalyticsService for AnalyticsApi {
    async fn get_kpis(&self, r: Request<GetKpisRequest>) -> Result<Response<GetKpisResponse>, Status> {
        reply(self.analytics.get_kpis(r.into_inner()).await)
    }

    async fn get_scenario_matrix(
        &self,
        r: Request<GetScenarioMatrixRequest>,
    ) -> Result<Response<GetScenarioMatrixResponse>, Status> {
        reply(self.analytics.get_scenario_matrix(r.into_inner()).await)
    }

    async fn get_site_league(&self, r: Request<GetSiteLeagueRequest>) -> Result<Response<GetSiteLeagueResponse>, Status> {
        reply(self.analytics.get_site_league(r.into_inner()).await)
    }

    async fn get_trends(&self, r: Request<GetTrendsRequest>) -> Result<Response<GetTrendsResponse>, Status> {
        reply(self.analytics.get_trends(r.into_inner()).await)
    }

    async fn get_flywheel_indicators(
        &self,
        r: Request<GetFlywheelIndicatorsRequest>,
    ) -> Result<Response<GetFlywheelIndicatorsResponse>, Status> {
        reply(self.analytics.get_flywheel_indicators(r.into_inner()).await)
    }

    type ExportCsvStream = ChunkStream;

    async fn export_csv(&self, r: Request<ExportCsvRequest>) -> Result<Response<Self::ExportCsvStream>, Status> {
        let chunks = self.analytics.export_csv(r.into_inner()).await.map_err(Status::from)?;
        let stream: ChunkStream = Box::pin(tokio_stream::iter(chunks.into_iter().map(Ok)));
        Ok(Response::new(stream))
    }

    async fn get_projection_status(
        &self,
        _request: Request<GetProjectionStatusRequest>,
    ) -> Result<Response<GetProjectionStatusResponse>, Status> {
        reply(self.analytics.get_projection_status().await)
    }
}
