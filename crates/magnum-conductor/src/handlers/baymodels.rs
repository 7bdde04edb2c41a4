//! BayModel reads and writes (spec/rpc.md §7.1, §7.2).

use super::{db_key, describe, page, read_scope, tenant};
use crate::Conductor;
use crate::dispatch::storage;
use magnum_core::baymodel::{BayModel, BayModelSpec, REFERENCED_PATCHABLE};
use magnum_db::baymodels::{self, Key};
use magnum_db::{Error, Scope};
use magnum_rpc::methods::{ListQuery, Lookup};
use magnum_rpc::{Payload, Primitive, RemoteFailure, RequestContext};
use serde_json::Value;
use uuid::Uuid;

fn not_found(ident: &str) -> RemoteFailure {
    RemoteFailure::not_found("BayModel", ident).with_kwarg("baymodel", ident)
}

/// The reply: JSON text written straight from the record, no `Value` tree.
fn to_value(baymodel: BayModel) -> Payload {
    Payload::Json(Primitive::new(baymodel).to_json())
}

/// `BayModel.get_by_*`: one visible baymodel; several by name is a conflict.
pub(crate) async fn get(
    c: &Conductor,
    ctx: &RequestContext,
    lookup: &Lookup,
) -> Result<Payload, RemoteFailure> {
    let scope = read_scope(ctx, Some(lookup));
    let mut conn = c.pool.acquire().await.map_err(storage)?;
    let key = db_key(lookup);
    let mut found = baymodels::find(&mut conn, &scope, key)
        .await
        .map_err(storage)?;
    if found.len() > 1 {
        // A tenant's own template shadows a public one of the same name from elsewhere.
        let own = tenant(ctx);
        found.retain(|m| m.project_id == own);
        if found.len() != 1 {
            return Err(RemoteFailure::conflict(
                "Multiple baymodels exist with same name. Please use the baymodel uuid instead.",
            ));
        }
    }
    found
        .pop()
        .map(to_value)
        .ok_or_else(|| not_found(&describe(lookup)))
}

/// `BayModel.list`: own and public templates (admins: also others' hidden ones).
pub(crate) async fn list(
    c: &Conductor,
    ctx: &RequestContext,
    query: ListQuery,
) -> Result<Payload, RemoteFailure> {
    let mut page = page(&query, baymodels::SORT_KEYS, c.max_limit)?;
    if let Some(filters) = query.filters.as_ref().filter(|f| !f.is_empty()) {
        let names: Vec<_> = filters.keys().cloned().collect();
        return Err(RemoteFailure::invalid(format!(
            "Unknown filters: {}",
            names.join(", ")
        )));
    }
    let scope = read_scope(ctx, None);
    let mut conn = c.pool.acquire().await.map_err(storage)?;
    if let Some(marker) = query.marker {
        page.after_id = Some(
            baymodels::marker_id(&mut conn, &scope, marker)
                .await
                .map_err(storage)?
                .ok_or_else(|| not_found(&marker.to_string()))?,
        );
    }
    let items = baymodels::list(&mut conn, &scope, ctx.is_admin, &page)
        .await
        .map_err(storage)?;
    let items: Vec<Primitive<BayModel>> = items.into_iter().map(Primitive::new).collect();
    Ok(Payload::Json(Primitive::list_to_json(&items)))
}

/// `baymodel_create`: stores the template under the caller's project. A redelivered copy (same
/// uuid, same content, same project) gets the stored row back.
pub(crate) async fn create(
    c: &Conductor,
    ctx: &RequestContext,
    spec: BayModelSpec,
) -> Result<Payload, RemoteFailure> {
    let uuid = spec
        .uuid
        .ok_or_else(|| RemoteFailure::invalid("A baymodel needs a uuid."))?;
    let project = tenant(ctx);
    let user = ctx.user_id.clone().unwrap_or_default();
    let mut conn = c.pool.acquire().await.map_err(storage)?;
    match baymodels::insert(&mut conn, &spec, &project, &user).await {
        Ok(stored) => Ok(to_value(stored)),
        Err(Error::Duplicate(constraint)) if constraint == "baymodel_uuid_key" => {
            let existing = baymodels::find(&mut conn, &Scope::project(project), Key::Uuid(uuid))
                .await
                .map_err(storage)?;
            match existing.into_iter().next() {
                Some(stored) if stored.spec() == with_name(&spec, &stored) => Ok(to_value(stored)),
                _ => Err(RemoteFailure::typed(
                    "BayModelAlreadyExists",
                    409,
                    format!("A baymodel with UUID {uuid} already exists."),
                )),
            }
        }
        Err(Error::Duplicate(_)) => Err(RemoteFailure::typed(
            "BayModelAlreadyExists",
            409,
            format!(
                "A baymodel with name {} already exists in this project.",
                spec.name.as_deref().unwrap_or_default()
            ),
        )),
        Err(e) => Err(storage(e)),
    }
}

fn with_name(spec: &BayModelSpec, stored: &BayModel) -> BayModelSpec {
    let mut spec = spec.clone();
    if spec.name.is_none() {
        spec.name.clone_from(&stored.name);
    }
    spec
}

/// Loads a baymodel the caller may change: its own, or any for an admin. Another project's
/// public template is visible but not the caller's to change.
async fn writable(
    conn: &mut sqlx::PgConnection,
    ctx: &RequestContext,
    uuid: Uuid,
) -> Result<BayModel, RemoteFailure> {
    let scope = read_scope(ctx, Some(&Lookup::Uuid(uuid)));
    let found = baymodels::find(conn, &scope, Key::Uuid(uuid))
        .await
        .map_err(storage)?;
    let model = found
        .into_iter()
        .next()
        .ok_or_else(|| not_found(&uuid.to_string()))?;
    if !ctx.is_admin && model.project_id != tenant(ctx) {
        return Err(RemoteFailure::typed(
            "NotAuthorized",
            403,
            format!("Not authorized to change baymodel {uuid}: it belongs to another project."),
        ));
    }
    Ok(model)
}

/// `baymodel_update`: writes exactly the changed fields. While a bay references the template
/// only `name`, `public` and `hidden` may change.
pub(crate) async fn update(
    c: &Conductor,
    ctx: &RequestContext,
    uuid: Uuid,
    spec: &BayModelSpec,
    changes: &[String],
) -> Result<Payload, RemoteFailure> {
    let mut tx = c.pool.begin().await.map_err(storage)?;
    let current = writable(&mut tx, ctx, uuid).await?;
    let locked = changes
        .iter()
        .filter(|f| !REFERENCED_PATCHABLE.contains(&f.as_str()));
    let locked: Vec<_> = locked.cloned().collect();
    if !locked.is_empty()
        && baymodels::is_referenced(&mut tx, uuid)
            .await
            .map_err(storage)?
    {
        return Err(RemoteFailure::invalid(format!(
            "Cannot update baymodel {uuid}: it is referenced by one or multiple bays, which \
             allows changing only name, public and hidden (not {}).",
            locked.join(", ")
        )));
    }
    let updated = match baymodels::update(&mut tx, current.uuid, spec, changes).await {
        Ok(Some(updated)) => updated,
        Ok(None) => return Err(not_found(&uuid.to_string())),
        Err(Error::Duplicate(_)) => {
            return Err(RemoteFailure::typed(
                "BayModelAlreadyExists",
                409,
                format!(
                    "A baymodel with name {} already exists in this project.",
                    spec.name.as_deref().unwrap_or_default()
                ),
            ));
        }
        Err(e) => return Err(storage(e)),
    };
    tx.commit().await.map_err(storage)?;
    Ok(to_value(updated))
}

/// `baymodel_delete`: refuses while a bay references the template. Deleting an already deleted
/// template is "not found".
pub(crate) async fn delete(
    c: &Conductor,
    ctx: &RequestContext,
    uuid: Uuid,
) -> Result<Value, RemoteFailure> {
    let mut conn = c.pool.acquire().await.map_err(storage)?;
    writable(&mut conn, ctx, uuid).await?;
    match baymodels::delete(&mut conn, uuid).await {
        Ok(true) => Ok(Value::Null),
        Ok(false) => Err(not_found(&uuid.to_string())),
        Err(Error::Referenced(_)) => Err(RemoteFailure::typed(
            "BayModelReferenced",
            400,
            format!("BayModel {uuid} is referenced by one or multiple bays."),
        )
        .with_kwarg("baymodel", uuid.to_string())),
        Err(e) => Err(storage(e)),
    }
}
