//! Analytics' tables. Instants are microseconds since the Unix epoch; enums are their proto
//! numbers; region paths are `/city/district/street/` id paths for subtree matching.

/// The facts of one UTC hour at one site, category and scenario cell (the finest grain; every
/// coarser bucket, region, site, category or cell total is a sum of these rows).
pub mod kpi_hour {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "kpi_hour")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub hour_us: i64,
        #[sea_orm(primary_key, auto_increment = false)]
        pub site_id: String,
        /// Empty for unclassified reports.
        #[sea_orm(primary_key, auto_increment = false)]
        pub category_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub dimension: i32,
        #[sea_orm(primary_key, auto_increment = false)]
        pub perspective: i32,
        pub region_path: String,
        /// Tickets that became open minus tickets that stopped being open in this hour.
        pub backlog_delta: i64,
        /// `domain::kpi::Facts` in its compact encoding (`Facts::encode`: counters and sparse
        /// duration sketches); empty only inside the batch that creates the row.
        pub facts: Vec<u8>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// The facts of one local day (of the rollup zone, `ANALYTICS_TIME_ZONE`) at one site,
/// category, scenario cell and region path: the merge of that day's hour rows, kept with each
/// hour row so a query over whole days reads one row per day instead of one per hour.
pub mod kpi_day {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "kpi_day")]
    pub struct Model {
        /// The day's first instant.
        #[sea_orm(primary_key, auto_increment = false)]
        pub day_us: i64,
        #[sea_orm(primary_key, auto_increment = false)]
        pub site_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub category_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub dimension: i32,
        #[sea_orm(primary_key, auto_increment = false)]
        pub perspective: i32,
        /// The region path of the hour rows merged here (an hour row that moves to another path
        /// moves to that path's day row).
        #[sea_orm(primary_key, auto_increment = false)]
        pub region_path: String,
        pub backlog_delta: i64,
        /// `domain::kpi::Facts`, encoded as in `kpi_hour`.
        pub facts: Vec<u8>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Facts merged across cells, one row per tier (hour, quarter day, day or week of the rollup
/// zone), level (what of the cell it keeps: nothing, the site, or the category and scenario
/// cell), start and kept key; the fields a level drops are blank (`""`, `0`). Kept with each
/// hour row so a query whose filter and grouping a level holds reads one row per kept key and
/// span instead of one per cell and hour or day (`store::levels`).
pub mod kpi_rollup {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "kpi_rollup")]
    pub struct Model {
        /// `domain::time::Tier`.
        #[sea_orm(primary_key, auto_increment = false)]
        pub tier: i32,
        /// `store::levels::Level`.
        #[sea_orm(primary_key, auto_increment = false)]
        pub level: i32,
        /// The first instant of the tier's span.
        #[sea_orm(primary_key, auto_increment = false)]
        pub start_us: i64,
        #[sea_orm(primary_key, auto_increment = false)]
        pub site_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub category_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub dimension: i32,
        #[sea_orm(primary_key, auto_increment = false)]
        pub perspective: i32,
        pub backlog_delta: i64,
        /// `domain::kpi::Facts`, encoded as in `kpi_hour`.
        pub facts: Vec<u8>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// The running backlog of one cell under one region path: the sum of `backlog_delta` over its
/// hour rows, kept with each delta so a query need not sum the whole history.
pub mod kpi_backlog {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "kpi_backlog")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub site_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub category_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub dimension: i32,
        #[sea_orm(primary_key, auto_increment = false)]
        pub perspective: i32,
        #[sea_orm(primary_key, auto_increment = false)]
        pub region_path: String,
        pub backlog: i64,
        /// The earliest hour row of this cell and path: a query starting at or before it has
        /// no backlog row for the cell, as the sum over earlier rows had none.
        pub first_hour_us: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// The sites as the registry's events last described them.
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
        pub flagship: bool,
        pub registered_us: i64,
        pub retired_us: Option<i64>,
        pub version: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod region {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "region")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub code: String,
        pub name: String,
        pub kind: i32,
        /// The region's ancestors and itself, `/root/.../id/`.
        pub path: String,
        pub version: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod category {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "category")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub code: String,
        pub name: String,
        pub dimension: i32,
        pub perspective: i32,
        pub version: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Per stream: events applied and the newest event time.
pub mod stream_progress {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "stream_progress")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub stream: String,
        pub events_applied: i64,
        pub last_event_us: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Small named values about the projections (e.g. when a rebuild started).
pub mod projection_meta {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "projection_meta")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub key: String,
        pub value: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Each ticket as its latest event described it, for the TICKETS export.
pub mod ticket {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "ticket")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub site_id: String,
        pub region_path: String,
        pub category_id: String,
        pub dimension: i32,
        pub perspective: i32,
        pub priority: i32,
        pub origin_kind: i32,
        pub report_id: String,
        pub state: i32,
        pub create_us: i64,
        pub first_acknowledge_us: Option<i64>,
        pub time_to_acknowledge_us: Option<i64>,
        /// The latest resolution.
        pub resolve_us: Option<i64>,
        pub time_to_resolve_us: Option<i64>,
        pub resolved_within_sla: Option<bool>,
        pub reopen_count: i32,
        pub assignment_count: i32,
        pub version: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// The latest survey answer about a ticket (kept apart: it may arrive before the ticket does).
pub mod ticket_rating {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "ticket_rating")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub ticket_id: String,
        pub survey_round: i32,
        pub rating: i32,
        pub fixed: i32,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
