//! Dispatch's tables. Instants are microseconds since the Unix epoch; enums are their proto
//! numbers; `body` holds the resource's protobuf message; region paths are `/city/district/street/`.

pub mod replica {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "replica")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub kind: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub status: i32,
        pub version: i64,
        pub body: Vec<u8>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod crew {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "crew")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        #[sea_orm(unique)]
        pub code: String,
        pub active: bool,
        pub version: i64,
        /// Position in the order of all crew changes: replicas refresh their index from it.
        pub rev: i64,
        pub capacity: i32,
        pub open_ticket_count: i32,
        pub last_assignment_us: Option<i64>,
        pub create_us: i64,
        pub update_us: i64,
        pub body: Vec<u8>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod ticket {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "ticket")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        #[sea_orm(unique)]
        pub code: String,
        pub site_id: String,
        pub region_path: String,
        pub category_id: String,
        pub priority: i32,
        pub state: i32,
        pub crew_id: String,
        pub origin_kind: i32,
        pub report_id: Option<String>,
        pub plan_id: Option<String>,
        pub occurrence_us: Option<i64>,
        pub unassignable: bool,
        pub sla_stage: i32,
        pub dimension: i32,
        pub perspective: i32,
        pub create_us: i64,
        pub resolve_due_us: i64,
        /// When the SLA clock next has something to announce; NULL when no clock runs.
        pub next_sla_us: Option<i64>,
        pub version: i64,
        pub history_len: i64,
        pub body: Vec<u8>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod ticket_change {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "ticket_change")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub seq: i64,
        pub ticket_id: String,
        pub sequence: i64,
        pub site_id: String,
        pub region_path: String,
        pub crew_before: String,
        pub crew_after: String,
        pub state_before: i32,
        pub state_after: i32,
        pub ticket: Vec<u8>,
        pub transition: Vec<u8>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// The last ticket number issued on a UTC day (`YYYYMMDD`).
pub mod ticket_number {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "ticket_number")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub day: String,
        pub issued: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod work_plan {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "work_plan")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        #[sea_orm(unique)]
        pub code: String,
        pub site_id: String,
        pub kind: i32,
        pub category_id: String,
        pub active: bool,
        pub next_due_us: Option<i64>,
        pub version: i64,
        pub create_us: i64,
        pub update_us: i64,
        pub body: Vec<u8>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
