//! The gRPC surface: translates requests to use cases and results to responses, nothing more.

use crate::app::{Cause, Dispatch};
use crate::caller::check_crew;
use flywheel_proto::flywheel::dispatch::v1::dispatch_service_server::DispatchService;
use flywheel_proto::flywheel::dispatch::v1::*;
use flywheel_runtime::auth::Principal;
use flywheel_runtime::grpc::correlation_id;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

impl DispatchApi {
    /// Who makes the call and under which request id.
    fn cause<T>(&self, r: &Request<T>, request_id: &str) -> Result<Cause, Status> {
        let actor = crate::caller::actor(Principal::of(r)?);
        Ok(Cause { actor, request_id: request_id.to_owned() })
    }
}

fn reply<T>(result: flywheel_runtime::Result<T>) -> Result<Response<T>, Status> {
    result.map(Response::new).map_err(Status::from)
}

pub struct DispatchApi {
    pub dispatch: Dispatch,
}

macro_rules! command {
    ($self:ident, $r:ident, $method:ident) => {{
        let c = $self.cause(&$r, &$r.get_ref().request_id)?;
        reply($self.dispatch.$method($r.into_inner(), c).await)
    }};
}

#[tonic::async_trait]
impl DispatchService for DispatchApi {
    async fn create_crew(&self, r: Request<CreateCrewRequest>) -> Result<Response<Crew>, Status> {
        let (corr, c) = (correlation_id(&r), self.cause(&r, &r.get_ref().request_id)?);
        reply(self.dispatch.create_crew(r.into_inner(), c, &corr).await)
    }

    async fn get_crew(&self, r: Request<GetCrewRequest>) -> Result<Response<Crew>, Status> {
        reply(self.dispatch.get_crew(&r.into_inner().id).await)
    }

    async fn list_crews(&self, r: Request<ListCrewsRequest>) -> Result<Response<ListCrewsResponse>, Status> {
        let page = self.dispatch.list_crews(r.into_inner()).await?;
        Ok(Response::new(ListCrewsResponse { crews: page.items, next_page_token: page.next_page_token }))
    }

    async fn update_crew(&self, r: Request<UpdateCrewRequest>) -> Result<Response<Crew>, Status> {
        let corr = correlation_id(&r);
        reply(self.dispatch.update_crew(r.into_inner(), &corr).await)
    }

    async fn deactivate_crew(&self, r: Request<DeactivateCrewRequest>) -> Result<Response<Crew>, Status> {
        let corr = correlation_id(&r);
        reply(self.dispatch.deactivate_crew(r.into_inner(), &corr).await)
    }

    async fn activate_crew(&self, r: Request<ActivateCrewRequest>) -> Result<Response<Crew>, Status> {
        let corr = correlation_id(&r);
        reply(self.dispatch.activate_crew(r.into_inner(), &corr).await)
    }

    async fn create_ticket(&self, r: Request<CreateTicketRequest>) -> Result<Response<Ticket>, Status> {
        let (corr, c) = (correlation_id(&r), self.cause(&r, &r.get_ref().request_id)?);
        reply(self.dispatch.create_ticket(r.into_inner(), c, &corr).await)
    }

    async fn get_ticket(&self, r: Request<GetTicketRequest>) -> Result<Response<Ticket>, Status> {
        let reader = self.cause(&r, "")?.actor;
        let ticket = self.dispatch.get_ticket(r.into_inner()).await?;
        check_crew(&reader, &ticket.crew_id, "tickets")?;
        Ok(Response::new(ticket))
    }

    async fn list_tickets(&self, r: Request<ListTicketsRequest>) -> Result<Response<ListTicketsResponse>, Status> {
        check_crew(&self.cause(&r, "")?.actor, &r.get_ref().crew_id, "tickets")?;
        let page = self.dispatch.list_tickets(r.into_inner()).await?;
        Ok(Response::new(ListTicketsResponse { tickets: page.items, next_page_token: page.next_page_token }))
    }

    async fn update_ticket(&self, r: Request<UpdateTicketRequest>) -> Result<Response<Ticket>, Status> {
        command!(self, r, update_ticket)
    }

    async fn assign_ticket(&self, r: Request<AssignTicketRequest>) -> Result<Response<Ticket>, Status> {
        command!(self, r, assign_ticket)
    }

    async fn reassign_ticket(&self, r: Request<ReassignTicketRequest>) -> Result<Response<Ticket>, Status> {
        command!(self, r, reassign_ticket)
    }

    async fn bulk_reassign_tickets(&self, r: Request<BulkReassignTicketsRequest>) -> Result<Response<BulkReassignTicketsResponse>, Status> {
        command!(self, r, bulk_reassign)
    }

    async fn accept_ticket(&self, r: Request<AcceptTicketRequest>) -> Result<Response<Ticket>, Status> {
        command!(self, r, accept_ticket)
    }

    async fn decline_ticket(&self, r: Request<DeclineTicketRequest>) -> Result<Response<Ticket>, Status> {
        command!(self, r, decline_ticket)
    }

    async fn start_ticket(&self, r: Request<StartTicketRequest>) -> Result<Response<Ticket>, Status> {
        command!(self, r, start_ticket)
    }

    async fn put_ticket_on_hold(&self, r: Request<PutTicketOnHoldRequest>) -> Result<Response<Ticket>, Status> {
        command!(self, r, put_on_hold)
    }

    async fn resume_ticket(&self, r: Request<ResumeTicketRequest>) -> Result<Response<Ticket>, Status> {
        command!(self, r, resume_ticket)
    }

    async fn resolve_ticket(&self, r: Request<ResolveTicketRequest>) -> Result<Response<Ticket>, Status> {
        command!(self, r, resolve_ticket)
    }

    async fn close_ticket(&self, r: Request<CloseTicketRequest>) -> Result<Response<Ticket>, Status> {
        command!(self, r, close_ticket)
    }

    async fn reopen_ticket(&self, r: Request<ReopenTicketRequest>) -> Result<Response<Ticket>, Status> {
        command!(self, r, reopen_ticket)
    }

    async fn cancel_ticket(&self, r: Request<CancelTicketRequest>) -> Result<Response<Ticket>, Status> {
        command!(self, r, cancel_ticket)
    }

    async fn escalate_ticket(&self, r: Request<EscalateTicketRequest>) -> Result<Response<Ticket>, Status> {
        command!(self, r, escalate_ticket)
    }

    type WatchTicketsStream = ReceiverStream<Result<WatchTicketsResponse, Status>>;

    async fn watch_tickets(&self, r: Request<WatchTicketsRequest>) -> Result<Response<Self::WatchTicketsStream>, Status> {
        let watcher = self.cause(&r, "")?.actor;
        let feed = self.dispatch.watch_tickets(r.into_inner(), &watcher).await?;
        Ok(Response::new(ReceiverStream::new(feed)))
    }

    async fn create_work_plan(&self, r: Request<CreateWorkPlanRequest>) -> Result<Response<WorkPlan>, Status> {
        let corr = correlation_id(&r);
        reply(self.dispatch.create_work_plan(r.into_inner(), &corr).await)
    }

    async fn get_work_plan(&self, r: Request<GetWorkPlanRequest>) -> Result<Response<WorkPlan>, Status> {
        let reader = self.cause(&r, "")?.actor;
        let plan = self.dispatch.get_work_plan(&r.into_inner().id).await?;
        check_crew(&reader, &plan.crew_id, "work plans")?;
        Ok(Response::new(plan))
    }

    async fn list_work_plans(&self, r: Request<ListWorkPlansRequest>) -> Result<Response<ListWorkPlansResponse>, Status> {
        let page = self.dispatch.list_work_plans(r.into_inner()).await?;
        Ok(Response::new(ListWorkPlansResponse { plans: page.items, next_page_token: page.next_page_token }))
    }

    async fn update_work_plan(&self, r: Request<UpdateWorkPlanRequest>) -> Result<Response<WorkPlan>, Status> {
        reply(self.dispatch.update_work_plan(r.into_inner()).await)
    }
}
