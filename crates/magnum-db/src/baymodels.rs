//! The `baymodel` table.

use crate::lookup;
use crate::paging::{Page, push_page};
use crate::{Error, Scope};
use chrono::{DateTime, Utc};
use magnum_core::baymodel::{BayModel, BayModelSpec, Coe};
use sqlx::types::Json;
use sqlx::{PgConnection, Postgres, QueryBuilder};
use std::collections::BTreeMap;
use uuid::Uuid;

pub use magnum_core::baymodel::SORT_KEYS;

#[derive(Debug, sqlx::FromRow)]
struct BayModelRow {
    id: i64,
    uuid: Uuid,
    project_id: String,
    user_id: String,
    name: String,
    coe: String,
    image_id: String,
    flavor_id: Option<String>,
    master_flavor_id: Option<String>,
    keypair_id: Option<String>,
    dns_nameserver: Option<String>,
    external_network_id: Option<String>,
    fixed_network: Option<String>,
    fixed_subnet: Option<String>,
    network_driver: Option<String>,
    apiserver_port: Option<i32>,
    docker_volume_size: Option<i32>,
    docker_storage_driver: String,
    ssh_authorized_key: Option<String>,
    cluster_distro: Option<String>,
    http_proxy: Option<String>,
    https_proxy: Option<String>,
    no_proxy: Option<String>,
    volume_driver: Option<String>,
    insecure_registry: Option<String>,
    labels: Json<BTreeMap<String, String>>,
    registry_enabled: bool,
    tls_disabled: bool,
    public: bool,
    hidden: bool,
    floating_ip_enabled: bool,
    master_lb_enabled: bool,
    server_type: String,
    tags: Option<String>,
    driver: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: Option<DateTime<Utc>>,
}

impl From<BayModelRow> for BayModel {
    fn from(r: BayModelRow) -> Self {
        BayModel {
            id: r.id,
            uuid: r.uuid,
            project_id: r.project_id,
            user_id: r.user_id,
            name: Some(r.name),
            // The column's CHECK constraint admits only the three known values.
            coe: Coe::parse(&r.coe).unwrap_or(Coe::Mesos),
            image_id: r.image_id,
            flavor_id: r.flavor_id,
            master_flavor_id: r.master_flavor_id,
            keypair_id: r.keypair_id,
            dns_nameserver: r.dns_nameserver,
            external_network_id: r.external_network_id,
            fixed_network: r.fixed_network,
            fixed_subnet: r.fixed_subnet,
            network_driver: r.network_driver,
            apiserver_port: r.apiserver_port,
            docker_volume_size: r.docker_volume_size,
            docker_storage_driver: Some(r.docker_storage_driver),
            ssh_authorized_key: r.ssh_authorized_key,
            cluster_distro: r.cluster_distro,
            http_proxy: r.http_proxy,
            https_proxy: r.https_proxy,
            no_proxy: r.no_proxy,
            volume_driver: r.volume_driver,
            insecure_registry: r.insecure_registry,
            labels: r.labels.0,
            registry_enabled: r.registry_enabled,
            tls_disabled: r.tls_disabled,
            public: r.public,
            hidden: r.hidden,
            floating_ip_enabled: r.floating_ip_enabled,
            master_lb_enabled: r.master_lb_enabled,
            server_type: r.server_type,
            tags: r.tags,
            driver: r.driver,
            created_at: Some(r.created_at),
            updated_at: r.updated_at,
        }
    }
}

/// Stores a new baymodel. `spec.uuid` and `spec.name` must be set by the caller.
pub async fn insert(
    conn: &mut PgConnection,
    spec: &BayModelSpec,
    project_id: &str,
    user_id: &str,
) -> Result<BayModel, Error> {
    let uuid = spec.uuid.unwrap_or_else(Uuid::new_v4);
    let name = spec
        .name
        .clone()
        .unwrap_or_else(|| magnum_core::fields::generated_name("template", &uuid));
    let row = sqlx::query_as!(
        BayModelRow,
        r#"INSERT INTO baymodel (uuid, project_id, user_id, name, coe, image_id, flavor_id,
               master_flavor_id, keypair_id, dns_nameserver, external_network_id, fixed_network,
               fixed_subnet, network_driver, apiserver_port, docker_volume_size,
               docker_storage_driver, ssh_authorized_key, cluster_distro, http_proxy, https_proxy,
               no_proxy, volume_driver, insecure_registry, labels, registry_enabled, tls_disabled,
               public, hidden, floating_ip_enabled, master_lb_enabled, server_type, tags, driver)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17,
               $18, $19, $20, $21, $22, $23, $24, $25, $26, $27, $28, $29, $30, $31, $32, $33, $34)
           RETURNING id, uuid, project_id, user_id, name, coe, image_id, flavor_id,
               master_flavor_id, keypair_id, dns_nameserver, external_network_id, fixed_network,
               fixed_subnet, network_driver, apiserver_port, docker_volume_size,
               docker_storage_driver, ssh_authorized_key, cluster_distro, http_proxy, https_proxy,
               no_proxy, volume_driver, insecure_registry,
               labels AS "labels: Json<BTreeMap<String, String>>", registry_enabled,
               tls_disabled, public, hidden, floating_ip_enabled, master_lb_enabled, server_type,
               tags, driver, created_at, updated_at"#,
        uuid,
        project_id,
        user_id,
        name,
        spec.coe.as_str(),
        spec.image_id,
        spec.flavor_id,
        spec.master_flavor_id,
        spec.keypair_id,
        spec.dns_nameserver,
        spec.external_network_id,
        spec.fixed_network,
        spec.fixed_subnet,
        spec.network_driver,
        spec.apiserver_port,
        spec.docker_volume_size,
        spec.docker_storage_driver,
        spec.ssh_authorized_key,
        spec.cluster_distro,
        spec.http_proxy,
        spec.https_proxy,
        spec.no_proxy,
        spec.volume_driver,
        spec.insecure_registry,
        Json(&spec.labels) as _,
        spec.registry_enabled,
        spec.tls_disabled,
        spec.public,
        spec.hidden,
        spec.floating_ip_enabled,
        spec.master_lb_enabled,
        spec.server_type,
        spec.tags,
        spec.coe.driver(),
    )
    .fetch_one(conn)
    .await?;
    Ok(row.into())
}

/// Writes the fields named in `changes` (and only those) from `spec`; `None` if the baymodel
/// does not exist. Locks the row for the rest of the caller's transaction.
pub async fn update(
    conn: &mut PgConnection,
    uuid: Uuid,
    spec: &BayModelSpec,
    changes: &[String],
) -> Result<Option<BayModel>, Error> {
    let row = sqlx::query_as!(
        BayModelRow,
        r#"UPDATE baymodel SET
               name = CASE WHEN 'name' = ANY($2) THEN COALESCE($3, name) ELSE name END,
               coe = CASE WHEN 'coe' = ANY($2) THEN $4 ELSE coe END,
               driver = CASE WHEN 'coe' = ANY($2) THEN $5 ELSE driver END,
               image_id = CASE WHEN 'image_id' = ANY($2) THEN $6 ELSE image_id END,
               flavor_id = CASE WHEN 'flavor_id' = ANY($2) THEN $7 ELSE flavor_id END,
               master_flavor_id = CASE WHEN 'master_flavor_id' = ANY($2) THEN $8 ELSE master_flavor_id END,
               keypair_id = CASE WHEN 'keypair_id' = ANY($2) THEN $9 ELSE keypair_id END,
               dns_nameserver = CASE WHEN 'dns_nameserver' = ANY($2) THEN $10 ELSE dns_nameserver END,
               external_network_id = CASE WHEN 'external_network_id' = ANY($2) THEN $11 ELSE external_network_id END,
               fixed_network = CASE WHEN 'fixed_network' = ANY($2) THEN $12 ELSE fixed_network END,
               fixed_subnet = CASE WHEN 'fixed_subnet' = ANY($2) THEN $13 ELSE fixed_subnet END,
               network_driver = CASE WHEN 'network_driver' = ANY($2) THEN $14 ELSE network_driver END,
               apiserver_port = CASE WHEN 'apiserver_port' = ANY($2) THEN $15 ELSE apiserver_port END,
               docker_volume_size = CASE WHEN 'docker_volume_size' = ANY($2) THEN $16 ELSE docker_volume_size END,
               docker_storage_driver = CASE WHEN 'docker_storage_driver' = ANY($2) THEN $17 ELSE docker_storage_driver END,
               ssh_authorized_key = CASE WHEN 'ssh_authorized_key' = ANY($2) THEN $18 ELSE ssh_authorized_key END,
               cluster_distro = CASE WHEN 'cluster_distro' = ANY($2) THEN $19 ELSE cluster_distro END,
               http_proxy = CASE WHEN 'http_proxy' = ANY($2) THEN $20 ELSE http_proxy END,
               https_proxy = CASE WHEN 'https_proxy' = ANY($2) THEN $21 ELSE https_proxy END,
               no_proxy = CASE WHEN 'no_proxy' = ANY($2) THEN $22 ELSE no_proxy END,
               volume_driver = CASE WHEN 'volume_driver' = ANY($2) THEN $23 ELSE volume_driver END,
               insecure_registry = CASE WHEN 'insecure_registry' = ANY($2) THEN $24 ELSE insecure_registry END,
               labels = CASE WHEN 'labels' = ANY($2) THEN $25 ELSE labels END,
               registry_enabled = CASE WHEN 'registry_enabled' = ANY($2) THEN $26 ELSE registry_enabled END,
               tls_disabled = CASE WHEN 'tls_disabled' = ANY($2) THEN $27 ELSE tls_disabled END,
               public = CASE WHEN 'public' = ANY($2) THEN $28 ELSE public END,
               hidden = CASE WHEN 'hidden' = ANY($2) THEN $29 ELSE hidden END,
               floating_ip_enabled = CASE WHEN 'floating_ip_enabled' = ANY($2) THEN $30 ELSE floating_ip_enabled END,
               master_lb_enabled = CASE WHEN 'master_lb_enabled' = ANY($2) THEN $31 ELSE master_lb_enabled END,
               server_type = CASE WHEN 'server_type' = ANY($2) THEN $32 ELSE server_type END,
               tags = CASE WHEN 'tags' = ANY($2) THEN $33 ELSE tags END,
               updated_at = now()
           WHERE uuid = $1
           RETURNING id, uuid, project_id, user_id, name, coe, image_id, flavor_id,
               master_flavor_id, keypair_id, dns_nameserver, external_network_id, fixed_network,
               fixed_subnet, network_driver, apiserver_port, docker_volume_size,
               docker_storage_driver, ssh_authorized_key, cluster_distro, http_proxy, https_proxy,
               no_proxy, volume_driver, insecure_registry,
               labels AS "labels: Json<BTreeMap<String, String>>", registry_enabled,
               tls_disabled, public, hidden, floating_ip_enabled, master_lb_enabled, server_type,
               tags, driver, created_at, updated_at"#,
        uuid,
        changes,
        spec.name,
        spec.coe.as_str(),
        spec.coe.driver(),
        spec.image_id,
        spec.flavor_id,
        spec.master_flavor_id,
        spec.keypair_id,
        spec.dns_nameserver,
        spec.external_network_id,
        spec.fixed_network,
        spec.fixed_subnet,
        spec.network_driver,
        spec.apiserver_port,
        spec.docker_volume_size,
        spec.docker_storage_driver,
        spec.ssh_authorized_key,
        spec.cluster_distro,
        spec.http_proxy,
        spec.https_proxy,
        spec.no_proxy,
        spec.volume_driver,
        spec.insecure_registry,
        Json(&spec.labels) as _,
        spec.registry_enabled,
        spec.tls_disabled,
        spec.public,
        spec.hidden,
        spec.floating_ip_enabled,
        spec.master_lb_enabled,
        spec.server_type,
        spec.tags,
    )
    .fetch_optional(conn)
    .await?;
    Ok(row.map(Into::into))
}

/// Deletes a baymodel; `Ok(false)` if it did not exist. A bay still using it makes this fail
/// with [`Error::Referenced`].
pub async fn delete(conn: &mut PgConnection, uuid: Uuid) -> Result<bool, Error> {
    let done = sqlx::query!("DELETE FROM baymodel WHERE uuid = $1", uuid)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Whether any bay references the baymodel.
pub async fn is_referenced(conn: &mut PgConnection, uuid: Uuid) -> Result<bool, Error> {
    let found = sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM bay WHERE baymodel_id = $1) AS "found!""#,
        uuid
    )
    .fetch_one(conn)
    .await?;
    Ok(found)
}

const COLUMNS: &str = "t.id, t.uuid, t.project_id, t.user_id, t.name, t.coe, t.image_id, \
    t.flavor_id, t.master_flavor_id, t.keypair_id, t.dns_nameserver, t.external_network_id, \
    t.fixed_network, t.fixed_subnet, t.network_driver, t.apiserver_port, t.docker_volume_size, \
    t.docker_storage_driver, t.ssh_authorized_key, t.cluster_distro, t.http_proxy, \
    t.https_proxy, t.no_proxy, t.volume_driver, t.insecure_registry, t.labels, \
    t.registry_enabled, t.tls_disabled, t.public, t.hidden, t.floating_ip_enabled, \
    t.master_lb_enabled, t.server_type, t.tags, t.driver, t.created_at, t.updated_at";

/// Restricts to rows the scope sees: its project's and public ones.
fn push_visible(qb: &mut QueryBuilder<Postgres>, scope: &Scope) {
    qb.push(format!("SELECT {COLUMNS} FROM baymodel t WHERE true"));
    if let Some(project) = &scope.project_id {
        qb.push(" AND (t.project_id = ")
            .push_bind(project.clone())
            .push(" OR t.public)");
    }
}

pub use crate::lookup::Key;

/// Visible baymodels matching `key` (at most two are read for a name: enough to detect an
/// ambiguity).
pub async fn find(
    conn: &mut PgConnection,
    scope: &Scope,
    key: Key<'_>,
) -> Result<Vec<BayModel>, Error> {
    let mut qb = QueryBuilder::new("");
    push_visible(&mut qb, scope);
    lookup::push_condition(&mut qb, &key);
    // Several rows only for a name, and only uuid and id are unique: see `push_key_limit_2`.
    if let Key::Name(_) = key {
        // Own rows first: a tenant's name shadows another project's public template.
        qb.push(" ORDER BY ");
        if let Some(project) = &scope.project_id {
            qb.push("(t.project_id = ")
                .push_bind(project.clone())
                .push(") DESC, ");
        }
        qb.push("t.id");
    }
    qb.push(" LIMIT 2");
    let rows: Vec<BayModelRow> = qb.build_query_as().fetch_all(conn).await?;
    Ok(rows.into_iter().map(Into::into).collect())
}

/// A page of visible baymodels. `include_hidden` also returns hidden ones.
pub async fn list(
    conn: &mut PgConnection,
    scope: &Scope,
    include_hidden: bool,
    page: &Page,
) -> Result<Vec<BayModel>, Error> {
    let mut qb = QueryBuilder::new("");
    push_visible(&mut qb, scope);
    if !include_hidden {
        qb.push(" AND NOT t.hidden");
    }
    push_page(&mut qb, "baymodel", page);
    let rows: Vec<BayModelRow> = qb.build_query_as().fetch_all(conn).await?;
    Ok(rows.into_iter().map(Into::into).collect())
}

/// The database id of a visible baymodel, for a list marker.
pub async fn marker_id(
    conn: &mut PgConnection,
    scope: &Scope,
    uuid: Uuid,
) -> Result<Option<i64>, Error> {
    Ok(find(conn, scope, Key::Uuid(uuid))
        .await?
        .first()
        .map(|m| m.id))
}
