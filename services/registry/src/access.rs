//! Who may call which registry method: site managers write, every authenticated role reads.

use flywheel_runtime::auth::{Role, Rule};

const WRITERS: &[Role] = &[Role::SiteManager];
const READERS: &[Role] = &Role::ALL;

/// The registry's rules, for the runtime's gate.
pub const RULES: &[Rule] = flywheel_runtime::method_rules![
    "flywheel.registry.v1.RegistryService";
    "CreateRegion" => WRITERS, "GetRegion" => READERS, "ListRegions" => READERS,
    "UpdateRegion" => WRITERS, "RetireRegion" => WRITERS,
    "RegisterSite" => WRITERS, "GetSite" => READERS, "ListSites" => READERS,
    "UpdateSite" => WRITERS, "RetireSite" => WRITERS,
    "CreateZone" => WRITERS, "GetZone" => READERS, "ListZones" => READERS,
    "UpdateZone" => WRITERS, "RetireZone" => WRITERS,
    "RegisterAsset" => WRITERS, "GetAsset" => READERS, "ListAssets" => READERS,
    "UpdateAsset" => WRITERS, "RetireAsset" => WRITERS,
    "DefineCategory" => WRITERS, "GetCategory" => READERS, "ListCategories" => READERS,
    "UpdateCategory" => WRITERS, "RetireCategory" => WRITERS,
];

#[cfg(test)]
mod tests {
    /// Every method × every role; a method added to the contract without a rule fails here.
    const MATRIX: &str = "
                    resident dispatcher crew_member site_manager analyst admin service
        CreateRegion    .        .          .           x           .      x      .
        GetRegion       x        x          x           x           x      x      x
        ListRegions     x        x          x           x           x      x      x
        UpdateRegion    .        .          .           x           .      x      .
        RetireRegion    .        .          .           x           .      x      .
        RegisterSite    .        .          .           x           .      x      .
        GetSite         x        x          x           x           x      x      x
        ListSites       x        x          x           x           x      x      x
        UpdateSite      .        .          .           x           .      x      .
        RetireSite      .        .          .           x           .      x      .
        CreateZone      .        .          .           x           .      x      .
        GetZone         x        x          x           x           x      x      x
        ListZones       x        x          x           x           x      x      x
        UpdateZone      .        .          .           x           .      x      .
        RetireZone      .        .          .           x           .      x      .
        RegisterAsset   .        .          .           x           .      x      .
        GetAsset        x        x          x           x           x      x      x
        ListAssets      x        x          x           x           x      x      x
        UpdateAsset     .        .          .           x           .      x      .
        RetireAsset     .        .          .           x           .      x      .
        DefineCategory  .        .          .           x           .      x      .
        GetCategory     x        x          x           x           x      x      x
        ListCategories  x        x          x           x           x      x      x
        UpdateCategory  .        .          .           x           .      x      .
        RetireCategory  .        .          .           x           .      x      .
    ";

    #[test]
    fn the_rules_match_the_matrix() {
        flywheel_testing::assert_policy_matrix("flywheel.registry.v1.RegistryService", super::RULES, MATRIX);
    }
}
