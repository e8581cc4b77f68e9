//! Who may call which dispatch method. Dispatchers run tickets and crews; crew members work the
//! tickets their own crew holds and read their crew's tickets and plans (the ownership checks are
//! in the domain and in [`crate::caller::check_crew`]); a service — another system acting for
//! itself — may raise tickets and read tickets, crews and plans.

use flywheel_runtime::auth::{Role, Rule};

const DISPATCHERS: &[Role] = &[Role::Dispatcher];
const FIELD_WORK: &[Role] = &[Role::Dispatcher, Role::CrewMember];
const READERS: &[Role] = &[Role::Dispatcher, Role::Service];
const CREW_READERS: &[Role] = &[Role::Dispatcher, Role::CrewMember, Role::Service];

/// Dispatch's rules, for the runtime's gate.
pub const RULES: &[Rule] = flywheel_runtime::method_rules![
    "flywheel.dispatch.v1.DispatchService";
    "CreateCrew" => DISPATCHERS, "GetCrew" => READERS, "ListCrews" => READERS,
    "UpdateCrew" => DISPATCHERS, "DeactivateCrew" => DISPATCHERS, "ActivateCrew" => DISPATCHERS,
    "CreateTicket" => READERS, "GetTicket" => CREW_READERS, "ListTickets" => CREW_READERS,
    "UpdateTicket" => DISPATCHERS, "AssignTicket" => DISPATCHERS, "ReassignTicket" => DISPATCHERS,
    "BulkReassignTickets" => DISPATCHERS,
    "AcceptTicket" => FIELD_WORK, "DeclineTicket" => FIELD_WORK, "StartTicket" => FIELD_WORK,
    "PutTicketOnHold" => FIELD_WORK, "ResumeTicket" => FIELD_WORK, "ResolveTicket" => FIELD_WORK,
    "CloseTicket" => DISPATCHERS, "ReopenTicket" => DISPATCHERS, "CancelTicket" => DISPATCHERS,
    "EscalateTicket" => DISPATCHERS,
    "WatchTickets" => CREW_READERS,
    "CreateWorkPlan" => DISPATCHERS, "GetWorkPlan" => CREW_READERS, "ListWorkPlans" => READERS,
    "UpdateWorkPlan" => DISPATCHERS,
];

#[cfg(test)]
mod tests {
    /// Every method × every role; a method added to the contract without a rule fails here.
    const MATRIX: &str = "
                            resident dispatcher crew_member site_manager analyst admin service
        CreateCrew              .        x          .           .           .      x      .
        GetCrew                 .        x          .           .           .      x      x
        ListCrews               .        x          .           .           .      x      x
        UpdateCrew              .        x          .           .           .      x      .
        DeactivateCrew          .        x          .           .           .      x      .
        ActivateCrew            .        x          .           .           .      x      .
        CreateTicket            .        x          .           .           .      x      x
        GetTicket               .        x          x           .           .      x      x
        ListTickets             .        x          x           .           .      x      x
        UpdateTicket            .        x          .           .           .      x      .
        AssignTicket            .        x          .           .           .      x      .
        ReassignTicket          .        x          .           .           .      x      .
        BulkReassignTickets     .        x          .           .           .      x      .
        AcceptTicket            .        x          x           .           .      x      .
        DeclineTicket           .        x          x           .           .      x      .
        StartTicket             .        x          x           .           .      x      .
        PutTicketOnHold         .        x          x           .           .      x      .
        ResumeTicket            .        x          x           .           .      x      .
        ResolveTicket           .        x          x           .           .      x      .
        CloseTicket             .        x          .           .           .      x      .
        ReopenTicket            .        x          .           .           .      x      .
        CancelTicket            .        x          .           .           .      x      .
        EscalateTicket          .        x          .           .           .      x      .
        WatchTickets            .        x          x           .           .      x      x
        CreateWorkPlan          .        x          .           .           .      x      .
        GetWorkPlan             .        x          x           .           .      x      x
        ListWorkPlans           .        x          .           .           .      x      x
        UpdateWorkPlan          .        x          .           .           .      x      .
    ";

    #[test]
    fn the_rules_match_the_matrix() {
        flywheel_testing::assert_policy_matrix("flywheel.dispatch.v1.DispatchService", super::RULES, MATRIX);
    }
}
