//! Who may call which analytics method: analysts read everything; a service may ask how far the
//! projections are (monitoring). Analytics holds aggregates only, so no call needs an owner check.

use flywheel_runtime::auth::{Role, Rule};

const ANALYSTS: &[Role] = &[Role::Analyst];
const MONITORS: &[Role] = &[Role::Analyst, Role::Service];

/// Analytics' rules, for the runtime's gate.
pub const RULES: &[Rule] = flywheel_runtime::method_rules![
    "flywheel.analytics.v1.AnalyticsService";
    "GetKpis" => ANALYSTS,
    "GetScenarioMatrix" => ANALYSTS,
    "GetSiteLeague" => ANALYSTS,
    "GetTrends" => ANALYSTS,
    "GetFlywheelIndicators" => ANALYSTS,
    "ExportCsv" => ANALYSTS,
    "GetProjectionStatus" => MONITORS,
];

#[cfg(test)]
mod tests {
    /// Every method × every role; a method added to the contract without a rule fails here.
    const MATRIX: &str = "
                           resident dispatcher crew_member site_manager analyst admin service
        GetKpis                .        .          .           .           x      x      .
        GetScenarioMatrix      .        .          .           .           x      x      .
        GetSiteLeague          .        .          .           .           x      x      .
        GetTrends              .        .          .           .           x      x      .
        GetFlywheelIndicators  .        .          .           .           x      x      .
        ExportCsv              .        .          .           .           x      x      .
        GetProjectionStatus    .        .          .           .           x      x      x
    ";

    #[test]
    fn the_rules_match_the_matrix() {
        flywheel_testing::assert_policy_matrix("flywheel.analytics.v1.AnalyticsService", super::RULES, MATRIX);
    }
}
