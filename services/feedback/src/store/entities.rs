//! Feedback's tables. Instants are microseconds since the Unix epoch; enums are their proto
//! numbers; absent ids are empty strings; region paths are `/city/district/street/` id paths.

macro_rules! no_relations {
    () => {
        #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
        pub enum Relation {}

        impl ActiveModelBehavior for ActiveModel {}
    };
}

/// The replica of the registry's sites (from registry events).
pub mod site {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "site")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub code: String,
        pub name: String,
        pub region_path: String,
        pub lat: f64,
        pub lng: f64,
        pub service_radius_m: f64,
        pub address: String,
        pub status: i32,
        /// The registry's version, so an older event never overwrites a newer one.
        pub version: i64,
    }

    no_relations!();
}

/// The replica of the registry's zones (which site each belongs to, and whether it is active).
pub mod zone {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "zone")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub site_id: String,
        pub status: i32,
        pub version: i64,
    }

    no_relations!();
}

/// The replica of the registry's service catalog.
pub mod category {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "category")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub code: String,
        pub name: String,
        pub description: String,
        pub dimension: i32,
        pub perspective: i32,
        pub default_priority: i32,
        pub status: i32,
        pub version: i64,
    }

    no_relations!();
}

pub mod report {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "report")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        #[sea_orm(unique)]
        pub tracking_code: String,
        pub kind: i32,
        pub site_id: String,
        pub region_path: String,
        pub zone_id: String,
        pub lat: Option<f64>,
        pub lng: Option<f64>,
        pub address: String,
        pub category_id: String,
        pub dimension: i32,
        pub perspective: i32,
        pub priority_hint: i32,
        pub description: String,
        /// One URL per line (URLs hold no line breaks).
        pub media_urls: String,
        pub channel: i32,
        pub resident_id: String,
        pub needs_field_work: bool,
        pub status: i32,
        pub ticket_id: String,
        pub duplicate_of: String,
        pub duplicate_count: i32,
        pub support_count: i32,
        pub reopen_count: i32,
        pub correlation_id: String,
        pub version: i64,
        pub submit_us: i64,
        pub update_us: i64,
        pub close_us: Option<i64>,
        pub expected_resolve_us: Option<i64>,
    }

    no_relations!();
}

/// The public timeline of a report, one row per status step.
pub mod timeline {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "report_timeline")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub report_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub seq: i32,
        pub status: i32,
        pub time_us: i64,
        pub note: String,
    }

    no_relations!();
}

pub mod survey {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "survey")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub report_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub round: i32,
        pub state: i32,
        pub ticket_id: String,
        pub open_us: i64,
        /// While OPEN: when it expires; afterwards when it was answered or closed.
        pub close_us: i64,
        pub rating: i32,
        pub fixed: i32,
        pub comment: String,
        pub rate_us: Option<i64>,
    }

    no_relations!();
}

/// Contact details, kept apart from the report so nothing that serialises a report can leak them.
pub mod contact {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "resident_contact")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub report_id: String,
        pub name: String,
        pub phone: String,
        pub email: String,
    }

    // Redacted, so a stray `?row` in a log line prints no personal data.
    impl std::fmt::Debug for Model {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("Contact").field("report_id", &self.report_id).finish_non_exhaustive()
        }
    }

    no_relations!();
}

/// Which reports each ticket has been linked to, for finding a ticket's reports: the index is
/// here rather than on `report.ticket_id`, so linking a report leaves the report's indexes as
/// they are (on PostgreSQL its row is updated in place). A report linked to another ticket since
/// keeps its old row here; a lookup also checks the report's own `ticket_id`.
pub mod report_ticket {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "report_ticket")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub ticket_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub report_id: String,
    }

    no_relations!();
}

/// "Me too": one row per supporting resident.
pub mod support {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "report_support")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub report_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub resident_id: String,
        pub channel: i32,
        pub time_us: i64,
    }

    no_relations!();
}

/// Filings per rate-limit scope (`channel/<n>`, `resident/<id>`) and fixed window; a busy scope's
/// count is split over shards so concurrent filings seldom wait on one row.
pub mod rate_count {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "rate_count")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub scope: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub window_us: i64,
        #[sea_orm(primary_key, auto_increment = false)]
        pub shard: i32,
        pub count: i64,
        /// When the window stops being the current or the previous one: then it is pruned.
        pub expire_us: i64,
    }

    no_relations!();
}
