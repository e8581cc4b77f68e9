//! The registry's tables. Instants are microseconds since the Unix epoch; enums are their proto
//! numbers; region paths are `/city/district/street/` id paths for subtree queries.

pub mod region {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "region")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        #[sea_orm(unique)]
        pub code: String,
        pub name: String,
        pub kind: i32,
        pub parent_id: Option<String>,
        pub path: String,
        pub status: i32,
        pub version: i64,
        pub create_us: i64,
        pub update_us: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod site {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "site")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        #[sea_orm(unique)]
        pub code: String,
        pub name: String,
        pub site_type: i32,
        pub region_id: String,
        pub region_path: String,
        pub lat: f64,
        pub lng: f64,
        pub service_radius_m: f64,
        pub flagship: bool,
        pub contract_start_us: Option<i64>,
        pub contract_end_us: Option<i64>,
        pub address: String,
        pub status: i32,
        pub version: i64,
        pub create_us: i64,
        pub update_us: i64,
        pub retire_us: Option<i64>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod zone {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "zone")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub site_id: String,
        pub code: String,
        pub name: String,
        pub description: String,
        pub status: i32,
        pub version: i64,
        pub create_us: i64,
        pub update_us: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod asset {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "asset")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub site_id: String,
        pub zone_id: Option<String>,
        pub tag: String,
        pub kind: String,
        pub name: String,
        pub lat: Option<f64>,
        pub lng: Option<f64>,
        pub status: i32,
        pub version: i64,
        pub create_us: i64,
        pub update_us: i64,
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
        #[sea_orm(unique)]
        pub code: String,
        pub name: String,
        pub description: String,
        pub dimension: i32,
        pub perspective: i32,
        pub default_priority: i32,
        /// The SLA targets as an encoded `repeated SlaTarget` (protobuf).
        pub sla_targets: Vec<u8>,
        /// Comma-separated skill names (skills never contain commas).
        pub required_skills: String,
        pub status: i32,
        pub version: i64,
        pub create_us: i64,
        pub update_us: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
