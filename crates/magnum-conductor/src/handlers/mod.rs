//! RPC handlers, one module per object family. Each scopes every query to the caller's project
//! (spec/rpc.md §3.1): a foreign object is "not found", never "forbidden".

pub(crate) mod admin;
pub(crate) mod baymodels;
pub(crate) mod bays;
pub(crate) mod certificates;
pub(crate) mod containers;
pub(crate) mod nodegroups;
pub(crate) mod nodes;
pub(crate) mod workloads;

use magnum_db::{Key, Page, Scope};
use magnum_rpc::methods::{ListQuery, Lookup};
use magnum_rpc::{RemoteFailure, RequestContext};

/// The project a caller acts in: its project, else its user (as Magnum scopes).
pub(crate) fn tenant(ctx: &RequestContext) -> String {
    ctx.project_id
        .clone()
        .or_else(|| ctx.user_id.clone())
        .unwrap_or_default()
}

/// Rows a read may see: admins address any project's object by id or uuid, and by name or in
/// lists only with `all_tenants`.
pub(crate) fn read_scope(ctx: &RequestContext, lookup: Option<&Lookup>) -> Scope {
    let by_key = matches!(lookup, Some(Lookup::Id(_) | Lookup::Uuid(_)));
    if ctx.sees_all_projects() || (ctx.is_admin && by_key) {
        Scope::all()
    } else {
        Scope::project(tenant(ctx))
    }
}

/// The database key of an RPC lookup.
pub(crate) fn db_key(lookup: &Lookup) -> Key<'_> {
    match lookup {
        Lookup::Id(id) => Key::Id(*id),
        Lookup::Uuid(uuid) => Key::Uuid(*uuid),
        Lookup::Name(name) => Key::Name(name),
    }
}

/// How a lookup reads in messages.
pub(crate) fn describe(lookup: &Lookup) -> String {
    match lookup {
        Lookup::Id(id) => id.to_string(),
        Lookup::Uuid(uuid) => uuid.to_string(),
        Lookup::Name(name) => name.clone(),
    }
}

/// The filters of a list of objects that live in bays: `bay_uuid`, and `name` where the list
/// takes it. Anything else is refused.
#[derive(Debug, Default)]
pub(crate) struct BayFilters<'q> {
    /// Only objects of this bay.
    pub(crate) bay: Option<uuid::Uuid>,
    /// Only objects of this name.
    pub(crate) name: Option<&'q str>,
}

/// Reads [`BayFilters`] from a list query.
pub(crate) fn bay_filters(query: &ListQuery, names: bool) -> Result<BayFilters<'_>, RemoteFailure> {
    let mut filters = BayFilters::default();
    for (key, value) in query.filters.iter().flatten() {
        match (key.as_str(), value.as_str()) {
            ("bay_uuid", Some(text)) if uuid::Uuid::try_parse(text).is_ok() => {
                filters.bay = uuid::Uuid::try_parse(text).ok();
            }
            ("name", Some(text)) if names => filters.name = Some(text),
            _ => {
                return Err(RemoteFailure::invalid(format!(
                    "Unknown or invalid filter: {key}"
                )));
            }
        }
    }
    Ok(filters)
}

/// Checks a list's paging options against the table's sortable columns and the limit cap.
/// The marker is resolved by the caller, which knows the table.
pub(crate) fn page(
    query: &ListQuery,
    sort_keys: &'static [&'static str],
    max_limit: u32,
) -> Result<Page, RemoteFailure> {
    let sort_key = match query.sort_key.as_deref() {
        None => "id",
        Some(key) => sort_keys
            .iter()
            .copied()
            .find(|k| *k == key)
            .ok_or_else(|| {
                RemoteFailure::invalid(format!("{key} is an invalid field for sorting"))
            })?,
    };
    let descending = match query.sort_dir.as_deref() {
        None | Some("asc") => false,
        Some("desc") => true,
        Some(_) => return Err(RemoteFailure::invalid("Invalid sort direction")),
    };
    let limit = query.limit.unwrap_or(max_limit).min(max_limit);
    Ok(Page {
        limit: i64::from(limit),
        after_id: None,
        sort_key,
        descending,
    })
}
