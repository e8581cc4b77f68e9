//! Who may call which feedback method. Residents file, track, support and rate — their own
//! reports only, checked in the domain; dispatchers (staff) classify, close and read contact
//! details; a service is a front end or tool acting for residents (file, track, list, rate).

use flywheel_runtime::auth::{Role, Rule};

const FILERS: &[Role] = &[Role::Resident, Role::Dispatcher, Role::Service];
const RESIDENTS: &[Role] = &[Role::Resident];
const RATERS: &[Role] = &[Role::Resident, Role::Service];
const STAFF: &[Role] = &[Role::Dispatcher];
const CONTACT_READERS: &[Role] = &[Role::Resident, Role::Dispatcher];

/// Feedback's rules, for the runtime's gate.
pub const RULES: &[Rule] = flywheel_runtime::method_rules![
    "flywheel.feedback.v1.FeedbackService";
    "SubmitReport" => FILERS,
    "GetReport" => FILERS,
    "ListReports" => FILERS,
    "SupportReport" => RESIDENTS,
    "RateResolution" => RATERS,
    "ClassifyReport" => STAFF,
    "CloseReport" => STAFF,
    "GetReportContact" => CONTACT_READERS,
];

#[cfg(test)]
mod tests {
    /// Every method × every role; a method added to the contract without a rule fails here.
    const MATRIX: &str = "
                         resident dispatcher crew_member site_manager analyst admin service
        SubmitReport         x        x          .           .           .      x      x
        GetReport            x        x          .           .           .      x      x
        ListReports          x        x          .           .           .      x      x
        SupportReport        x        .          .           .           .      x      .
        RateResolution       x        .          .           .           .      x      x
        ClassifyReport       .        x          .           .           .      x      .
        CloseReport          .        x          .           .           .      x      .
        GetReportContact     x        x          .           .           .      x      .
    ";

    #[test]
    fn the_rules_match_the_matrix() {
        flywheel_testing::assert_policy_matrix("flywheel.feedback.v1.FeedbackService", super::RULES, MATRIX);
    }
}
