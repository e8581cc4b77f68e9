use super::{Page, Registry, new_id, next_token, paging};
use crate::convert::{self, encode_skills, encode_targets};
use crate::domain::{category as rules, lifecycle::check_mask};
use crate::events;
use crate::store::entities::category;
use crate::store::{self, load};
use flywheel_proto::flywheel::registry::v1::{
    Category, DefineCategoryRequest, ListCategoriesRequest, RetireCategoryRequest, Status, UpdateCategoryRequest,
};
use flywheel_runtime::db::now_micros;
use flywheel_runtime::{Error, Result, pagination};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, Set};

impl Registry {
    pub async fn define_category(&self, req: DefineCategoryRequest, corr: &str) -> Result<Category> {
        let cat = req.category.ok_or_else(|| Error::invalid("category", "is required"))?;
        rules::validate(&cat, None)?;
        let id = self
            .writer
            .write_once("DefineCategory", &req.request_id, async |txn| {
                if category::Entity::find().filter(category::Column::Code.eq(&cat.code)).one(txn).await?.is_some() {
                    return Err(Error::AlreadyExists { kind: "category", field: "code", value: cat.code.clone() });
                }
                let cell = cat.cell.unwrap_or_default();
                let now = now_micros();
                let row = category::Model {
                    id: new_id(),
                    code: cat.code.clone(),
                    name: cat.name.trim().to_owned(),
                    description: cat.description.clone(),
                    dimension: cell.dimension,
                    perspective: cell.perspective,
                    default_priority: cat.default_priority,
                    sla_targets: encode_targets(&cat.sla_targets),
                    required_skills: encode_skills(&cat.required_skills),
                    status: Status::Active as i32,
                    version: 1,
                    create_us: now,
                    update_us: now,
                };
                store::insert(txn, "category", "code", &cat.code, category::ActiveModel::from(row.clone())).await?;
                let created = convert::category(row);
                Ok((created.id.clone(), vec![events::category_defined(&created, corr)]))
            })
            .await?;
        self.get_category(&id).await
    }

    pub async fn get_category(&self, id: &str) -> Result<Category> {
        Ok(convert::category(load::<category::Entity>(self.db(), "category", id).await?))
    }

    pub async fn list_categories(&self, req: ListCategoriesRequest) -> Result<Page<Category>> {
        let fp = pagination::fingerprint(&[&req.dimension, &req.perspective, &req.status]);
        let (size, after) = paging(req.page_size, &req.page_token, fp)?;
        let mut select = category::Entity::find();
        if req.dimension != 0 {
            select = select.filter(category::Column::Dimension.eq(req.dimension));
        }
        if req.perspective != 0 {
            select = select.filter(category::Column::Perspective.eq(req.perspective));
        }
        if req.status != 0 {
            select = select.filter(category::Column::Status.eq(req.status));
        }
        let (rows, more) = store::page(self.db(), select, after, size).await?;
        let next_page_token = next_token(rows.last().map(|r| r.id.as_str()), more, fp);
        Ok(Page { items: rows.into_iter().map(convert::category).collect(), next_page_token })
    }

    pub async fn update_category(&self, req: UpdateCategoryRequest, corr: &str) -> Result<Category> {
        let cat = req.category.ok_or_else(|| Error::invalid("category", "is required"))?;
        let paths = req.update_mask.map(|m| m.paths).unwrap_or_default();
        check_mask(&paths, rules::UPDATABLE)?;
        rules::validate(&cat, Some(&paths))?;
        self.writer
            .write(async |txn| {
                let row = store::load_for_change::<category::Entity>(txn, "category", &cat.id, cat.version, "updated").await?;
                let mut changes = category::ActiveModel {
                    version: Set(row.version + 1),
                    update_us: Set(now_micros()),
                    ..Default::default()
                };
                let cell = cat.cell.unwrap_or_default();
                for path in &paths {
                    match path.as_str() {
                        "name" => changes.name = Set(cat.name.trim().to_owned()),
                        "description" => changes.description = Set(cat.description.clone()),
                        "cell" => {
                            changes.dimension = Set(cell.dimension);
                            changes.perspective = Set(cell.perspective);
                        }
                        "default_priority" => changes.default_priority = Set(cat.default_priority),
                        "sla_targets" => changes.sla_targets = Set(encode_targets(&cat.sla_targets)),
                        "required_skills" => changes.required_skills = Set(encode_skills(&cat.required_skills)),
                        _ => {}
                    }
                }
                store::save_versioned(txn, "category", &row.id, row.version, changes).await?;
                let updated = convert::category(load::<category::Entity>(txn, "category", &row.id).await?);
                let event = events::category_changed(&updated, &paths, corr);
                Ok((updated, vec![event]))
            })
            .await
    }

    pub async fn retire_category(&self, req: RetireCategoryRequest, corr: &str) -> Result<Category> {
        let id = self
            .writer
            .write_once("RetireCategory", &req.request_id, async |txn| {
                store::load_for_change::<category::Entity>(txn, "category", &req.id, req.version, "retired").await?;
                let row = store::retire::<category::Entity>(txn, "category", &req.id, req.version, &[]).await?;
                let retired = convert::category(row.clone());
                Ok((row.id, vec![events::category_retired(&retired, corr)]))
            })
            .await?;
        self.get_category(&id).await
    }
}
