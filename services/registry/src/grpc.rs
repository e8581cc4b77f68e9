//! The gRPC surface: translates requests to use cases and results to responses, nothing more.

use crate::app::Registry;
use flywheel_proto::flywheel::registry::v1::registry_service_server::RegistryService;
use flywheel_proto::flywheel::registry::v1::*;
use flywheel_runtime::grpc::correlation_id;
use tonic::{Request, Response, Status};

pub struct RegistryApi {
    registry: Registry,
}

impl RegistryApi {
    pub fn new(registry: Registry) -> Self {
        Self { registry }
    }
}

fn reply<T>(result: flywheel_runtime::Result<T>) -> Result<Response<T>, Status> {
    result.map(Response::new).map_err(Status::from)
}

#[tonic::async_trait]
impl RegistryService for RegistryApi {
    async fn create_region(&self, r: Request<CreateRegionRequest>) -> Result<Response<Region>, Status> {
        let corr = correlation_id(&r);
        reply(self.registry.create_region(r.into_inner(), &corr).await)
    }

    async fn get_region(&self, r: Request<GetRegionRequest>) -> Result<Response<Region>, Status> {
        reply(self.registry.get_region(&r.into_inner().id).await)
    }

    async fn list_regions(&self, r: Request<ListRegionsRequest>) -> Result<Response<ListRegionsResponse>, Status> {
        let page = self.registry.list_regions(r.into_inner()).await?;
        Ok(Response::new(ListRegionsResponse { regions: page.items, next_page_token: page.next_page_token }))
    }

    async fn update_region(&self, r: Request<UpdateRegionRequest>) -> Result<Response<Region>, Status> {
        let corr = correlation_id(&r);
        reply(self.registry.update_region(r.into_inner(), &corr).await)
    }

    async fn retire_region(&self, r: Request<RetireRegionRequest>) -> Result<Response<Region>, Status> {
        let corr = correlation_id(&r);
        reply(self.registry.retire_region(r.into_inner(), &corr).await)
    }

    async fn register_site(&self, r: Request<RegisterSiteRequest>) -> Result<Response<Site>, Status> {
        let corr = correlation_id(&r);
        reply(self.registry.register_site(r.into_inner(), &corr).await)
    }

    async fn get_site(&self, r: Request<GetSiteRequest>) -> Result<Response<Site>, Status> {
        reply(self.registry.get_site(&r.into_inner().id).await)
    }

    async fn list_sites(&self, r: Request<ListSitesRequest>) -> Result<Response<ListSitesResponse>, Status> {
        let page = self.registry.list_sites(r.into_inner()).await?;
        Ok(Response::new(ListSitesResponse { sites: page.items, next_page_token: page.next_page_token }))
    }

    async fn update_site(&self, r: Request<UpdateSiteRequest>) -> Result<Response<Site>, Status> {
        let corr = correlation_id(&r);
        reply(self.registry.update_site(r.into_inner(), &corr).await)
    }

    async fn retire_site(&self, r: Request<RetireSiteRequest>) -> Result<Response<Site>, Status> {
        let corr = correlation_id(&r);
        reply(self.registry.retire_site(r.into_inner(), &corr).await)
    }

    async fn create_zone(&self, r: Request<CreateZoneRequest>) -> Result<Response<Zone>, Status> {
        let corr = correlation_id(&r);
        reply(self.registry.create_zone(r.into_inner(), &corr).await)
    }

    async fn get_zone(&self, r: Request<GetZoneRequest>) -> Result<Response<Zone>, Status> {
        reply(self.registry.get_zone(&r.into_inner().id).await)
    }

    async fn list_zones(&self, r: Request<ListZonesRequest>) -> Result<Response<ListZonesResponse>, Status> {
        let page = self.registry.list_zones(r.into_inner()).await?;
        Ok(Response::new(ListZonesResponse { zones: page.items, next_page_token: page.next_page_token }))
    }

    async fn update_zone(&self, r: Request<UpdateZoneRequest>) -> Result<Response<Zone>, Status> {
        let corr = correlation_id(&r);
        reply(self.registry.update_zone(r.into_inner(), &corr).await)
    }

    async fn retire_zone(&self, r: Request<RetireZoneRequest>) -> Result<Response<Zone>, Status> {
        let corr = correlation_id(&r);
        reply(self.registry.retire_zone(r.into_inner(), &corr).await)
    }

    async fn register_asset(&self, r: Request<RegisterAssetRequest>) -> Result<Response<Asset>, Status> {
        let corr = correlation_id(&r);
        reply(self.registry.register_asset(r.into_inner(), &corr).await)
    }

    async fn get_asset(&self, r: Request<GetAssetRequest>) -> Result<Response<Asset>, Status> {
        reply(self.registry.get_asset(&r.into_inner().id).await)
    }

    async fn list_assets(&self, r: Request<ListAssetsRequest>) -> Result<Response<ListAssetsResponse>, Status> {
        let page = self.registry.list_assets(r.into_inner()).await?;
        Ok(Response::new(ListAssetsResponse { assets: page.items, next_page_token: page.next_page_token }))
    }

    async fn update_asset(&self, r: Request<UpdateAssetRequest>) -> Result<Response<Asset>, Status> {
        let corr = correlation_id(&r);
        reply(self.registry.update_asset(r.into_inner(), &corr).await)
    }

    async fn retire_asset(&self, r: Request<RetireAssetRequest>) -> Result<Response<Asset>, Status> {
        let corr = correlation_id(&r);
        reply(self.registry.retire_asset(r.into_inner(), &corr).await)
    }

    async fn define_category(&self, r: Request<DefineCategoryRequest>) -> Result<Response<Category>, Status> {
        let corr = correlation_id(&r);
        reply(self.registry.define_category(r.into_inner(), &corr).await)
    }

    async fn get_category(&self, r: Request<GetCategoryRequest>) -> Result<Response<Category>, Status> {
        reply(self.registry.get_category(&r.into_inner().id).await)
    }

    async fn list_categories(
        &self,
        r: Request<ListCategoriesRequest>,
    ) -> Result<Response<ListCategoriesResponse>, Status> {
        let page = self.registry.list_categories(r.into_inner()).await?;
        Ok(Response::new(ListCategoriesResponse { categories: page.items, next_page_token: page.next_page_token }))
    }

    async fn update_category(&self, r: Request<UpdateCategoryRequest>) -> Result<Response<Category>, Status> {
        let corr = correlation_id(&r);
        reply(self.registry.update_category(r.into_inner(), &corr).await)
    }

    async fn retire_category(&self, r: Request<RetireCategoryRequest>) -> Result<Response<Category>, Status> {
        let corr = correlation_id(&r);
        reply(self.registry.retire_category(r.into_inner(), &corr).await)
    }
}
