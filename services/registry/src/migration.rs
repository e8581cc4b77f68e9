//! The registry's schema, as versioned migrations after the runtime's own.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;
use flywheel_runtime::migrations::index;

pub struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        let mut all = flywheel_runtime::migrations::all();
        all.push(Box::new(CreateRegistry));
        all.push(Box::new(SiteListIndexes));
        all
    }
}

struct CreateRegistry;

impl MigrationName for CreateRegistry {
    fn name(&self) -> &str {
        "m0100_registry"
    }
}

fn common(table: &mut TableCreateStatement) -> &mut TableCreateStatement {
    table
        .col(integer("status"))
        .col(big_integer("version"))
        .col(big_integer("create_us"))
        .col(big_integer("update_us"))
}

#[async_trait::async_trait]
impl MigrationTrait for CreateRegistry {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            common(
                Table::create()
                    .table("region")
                    .if_not_exists()
                    .col(string_len("id", 64).primary_key())
                    .col(string_len_uniq("code", 64))
                    .col(string("name"))
                    .col(integer("kind"))
                    .col(string_len_null("parent_id", 64))
                    .col(string_len("path", 400)),
            )
            .to_owned(),
        )
        .await?;
        m.create_table(
            common(
                Table::create()
                    .table("site")
                    .if_not_exists()
                    .col(string_len("id", 64).primary_key())
                    .col(string_len_uniq("code", 64))
                    .col(string("name"))
                    .col(integer("site_type"))
                    .col(string_len("region_id", 64))
                    .col(string_len("region_path", 400))
                    .col(double("lat"))
                    .col(double("lng"))
                    .col(double("service_radius_m"))
                    .col(boolean("flagship"))
                    .col(big_integer_null("contract_start_us"))
                    .col(big_integer_null("contract_end_us"))
                    .col(text("address"))
                    .col(big_integer_null("retire_us")),
            )
            .to_owned(),
        )
        .await?;
        m.create_table(
            common(
                Table::create()
                    .table("zone")
                    .if_not_exists()
                    .col(string_len("id", 64).primary_key())
                    .col(string_len("site_id", 64))
                    .col(string_len("code", 64))
                    .col(string("name"))
                    .col(text("description")),
            )
            .to_owned(),
        )
        .await?;
        m.create_table(
            common(
                Table::create()
                    .table("asset")
                    .if_not_exists()
                    .col(string_len("id", 64).primary_key())
                    .col(string_len("site_id", 64))
                    .col(string_len_null("zone_id", 64))
                    .col(string_len("tag", 64))
                    .col(string_len("kind", 64))
                    .col(string("name"))
                    .col(double_null("lat"))
                    .col(double_null("lng")),
            )
            .to_owned(),
        )
        .await?;
        m.create_table(
            common(
                Table::create()
                    .table("category")
                    .if_not_exists()
                    .col(string_len("id", 64).primary_key())
                    .col(string_len_uniq("code", 64))
                    .col(string("name"))
                    .col(text("description"))
                    .col(integer("dimension"))
                    .col(integer("perspective"))
                    .col(integer("default_priority"))
                    .col(blob("sla_targets"))
                    .col(text("required_skills")),
            )
            .to_owned(),
        )
        .await?;
        for i in [
            index("region_parent", "region", &["parent_id"], false),
            index("region_path", "region", &["path"], false),
            index("site_region_path", "site", &["region_path"], false),
            index("site_lat_lng", "site", &["lat", "lng"], false),
            index("site_type_status", "site", &["site_type", "status"], false),
            index("zone_site_code", "zone", &["site_id", "code"], true),
            index("asset_site_tag", "asset", &["site_id", "tag"], true),
            index("asset_zone", "asset", &["zone_id"], false),
            index("category_cell", "category", &["dimension", "perspective"], false),
        ] {
            m.create_index(i).await?;
        }
        Ok(())
    }
}

/// Indexes that let ListSites read only what a page needs: a region's own sites in id order, and
/// the ids and places inside a bounding box without touching the rows. (lat, lng, id) replaces
/// (lat, lng), its prefix.
struct SiteListIndexes;

impl MigrationName for SiteListIndexes {
    fn name(&self) -> &str {
        "m0101_registry_site_list_indexes"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for SiteListIndexes {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_index(index("site_region_id", "site", &["region_id", "id"], false)).await?;
        m.create_index(index("site_lat_lng_id", "site", &["lat", "lng", "id"], false)).await?;
        m.drop_index(Index::drop().name("site_lat_lng").table("site").if_exists().to_owned()).await
    }
}
