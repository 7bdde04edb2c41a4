//! magnum-db against a real PostgreSQL: a fresh, migrated database per test (`#[sqlx::test]`).

#![allow(
    clippy::unwrap_used,
    reason = "test helpers panic on a broken fixture, which fails the test"
)]

use magnum_core::baymodel::{BayModelSpec, Coe};
use magnum_db::baymodels::{self, Key};
use magnum_db::{Error, Page, Scope};
use sqlx::PgPool;
use std::collections::BTreeMap;
use uuid::Uuid;

fn spec(name: &str) -> BayModelSpec {
    BayModelSpec {
        uuid: Some(Uuid::new_v4()),
        name: Some(name.into()),
        coe: Coe::Kubernetes,
        image_id: "img".into(),
        flavor_id: None,
        master_flavor_id: None,
        keypair_id: None,
        dns_nameserver: None,
        external_network_id: None,
        fixed_network: None,
        fixed_subnet: None,
        network_driver: Some("flannel".into()),
        apiserver_port: None,
        docker_volume_size: None,
        docker_storage_driver: "devicemapper".into(),
        ssh_authorized_key: None,
        cluster_distro: None,
        http_proxy: None,
        https_proxy: None,
        no_proxy: None,
        volume_driver: None,
        insecure_registry: None,
        labels: BTreeMap::new(),
        registry_enabled: false,
        tls_disabled: false,
        public: false,
        hidden: false,
        floating_ip_enabled: true,
        master_lb_enabled: false,
        server_type: "vm".into(),
        tags: None,
    }
}

async fn names(
    pool: &PgPool,
    sort_key: &'static str,
    descending: bool,
    limit: i64,
) -> Vec<Option<String>> {
    // Walks every page, as a client following `next` links would.
    let mut conn = pool.acquire().await.unwrap();
    let mut seen = Vec::new();
    let mut after_id = None;
    loop {
        let page = Page {
            limit,
            after_id,
            sort_key,
            descending,
        };
        let rows = baymodels::list(&mut conn, &Scope::all(), true, &page)
            .await
            .unwrap();
        if rows.is_empty() {
            return seen;
        }
        after_id = rows.last().map(|m| m.id);
        seen.extend(rows.into_iter().map(|m| m.tags));
    }
}

#[sqlx::test(migrator = "magnum_db::MIGRATOR")]
async fn paging_by_a_nullable_column_visits_every_row_once_in_order(pool: PgPool) {
    let mut conn = pool.acquire().await.unwrap();
    for (i, tag) in [Some("b"), None, Some("a"), Some("b"), None, Some("c")]
        .into_iter()
        .enumerate()
    {
        let mut s = spec(&format!("m{i}"));
        s.tags = tag.map(str::to_owned);
        baymodels::insert(&mut conn, &s, "p", "u").await.unwrap();
    }
    let asc = names(&pool, "tags", false, 2).await;
    let tags = |v: &[Option<&str>]| v.iter().map(|t| t.map(str::to_owned)).collect::<Vec<_>>();
    assert_eq!(
        asc,
        tags(&[Some("a"), Some("b"), Some("b"), Some("c"), None, None])
    );
    let desc = names(&pool, "tags", true, 1).await;
    assert_eq!(
        desc,
        tags(&[None, None, Some("c"), Some("b"), Some("b"), Some("a")])
    );
}

#[sqlx::test(migrator = "magnum_db::MIGRATOR")]
async fn paging_by_id_visits_every_row_once_in_both_orders(pool: PgPool) {
    let mut conn = pool.acquire().await.unwrap();
    let mut ids = Vec::new();
    for i in 0..7 {
        let mut s = spec(&format!("m{i}"));
        s.tags = Some(i.to_string());
        ids.push(baymodels::insert(&mut conn, &s, "p", "u").await.unwrap().id);
    }
    let tags = |order: &[usize]| {
        order
            .iter()
            .map(|i| Some(i.to_string()))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        names(&pool, "id", false, 3).await,
        tags(&[0, 1, 2, 3, 4, 5, 6])
    );
    assert_eq!(
        names(&pool, "id", true, 2).await,
        tags(&[6, 5, 4, 3, 2, 1, 0])
    );
    // A page after a marker starts right after it, in either direction.
    let page = |after_id, descending| Page {
        limit: 2,
        after_id: Some(after_id),
        sort_key: "id",
        descending,
    };
    let after = baymodels::list(&mut conn, &Scope::all(), true, &page(ids[3], false))
        .await
        .unwrap();
    assert_eq!(
        after.iter().map(|m| m.id).collect::<Vec<_>>(),
        [ids[4], ids[5]]
    );
    let before = baymodels::list(&mut conn, &Scope::all(), true, &page(ids[3], true))
        .await
        .unwrap();
    assert_eq!(
        before.iter().map(|m| m.id).collect::<Vec<_>>(),
        [ids[2], ids[1]]
    );
}

#[sqlx::test(migrator = "magnum_db::MIGRATOR")]
async fn tenants_see_their_own_and_public_rows_only(pool: PgPool) {
    let mut conn = pool.acquire().await.unwrap();
    let mine = baymodels::insert(&mut conn, &spec("mine"), "p1", "u")
        .await
        .unwrap();
    let mut public = spec("shared");
    public.public = true;
    baymodels::insert(&mut conn, &public, "p2", "u")
        .await
        .unwrap();
    baymodels::insert(&mut conn, &spec("theirs"), "p2", "u")
        .await
        .unwrap();
    let page = Page {
        limit: 10,
        after_id: None,
        sort_key: "name",
        descending: false,
    };
    let seen = baymodels::list(&mut conn, &Scope::project("p1"), false, &page)
        .await
        .unwrap();
    let seen: Vec<_> = seen.iter().map(|m| m.name.clone().unwrap()).collect();
    assert_eq!(seen, ["mine", "shared"]);
    assert!(
        baymodels::find(&mut conn, &Scope::project("p2"), Key::Uuid(mine.uuid))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        baymodels::find(&mut conn, &Scope::all(), Key::Name("theirs"))
            .await
            .unwrap()
            .len(),
        1
    );
}

#[sqlx::test(migrator = "magnum_db::MIGRATOR")]
async fn names_are_unique_per_project_and_references_block_deletes(pool: PgPool) {
    let mut conn = pool.acquire().await.unwrap();
    let first = baymodels::insert(&mut conn, &spec("dup"), "p", "u")
        .await
        .unwrap();
    let clash = baymodels::insert(&mut conn, &spec("dup"), "p", "u").await;
    assert!(matches!(clash, Err(Error::Duplicate(c)) if c == "baymodel_project_id_name_key"));
    baymodels::insert(&mut conn, &spec("dup"), "other", "u")
        .await
        .unwrap();
    sqlx::query("INSERT INTO bay (uuid, project_id, user_id, name, baymodel_id, status, node_count, master_count) VALUES ($1, 'p', 'u', 'b', $2, 'CREATE_COMPLETE', 1, 1)")
        .bind(Uuid::new_v4())
        .bind(first.uuid)
        .execute(&mut *conn)
        .await
        .unwrap();
    assert!(
        baymodels::is_referenced(&mut conn, first.uuid)
            .await
            .unwrap()
    );
    let refused = baymodels::delete(&mut conn, first.uuid).await;
    assert!(matches!(refused, Err(Error::Referenced(c)) if c == "bay_baymodel_id_fkey"));
}

#[sqlx::test(migrator = "magnum_db::MIGRATOR")]
async fn an_update_writes_only_the_named_fields(pool: PgPool) {
    let mut conn = pool.acquire().await.unwrap();
    let stored = baymodels::insert(&mut conn, &spec("before"), "p", "u")
        .await
        .unwrap();
    let mut changed = stored.spec();
    changed.name = Some("after".into());
    changed.image_id = "not-written".into();
    let updated = baymodels::update(&mut conn, stored.uuid, &changed, &["name".to_owned()])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (updated.name.as_deref(), updated.image_id.as_str()),
        (Some("after"), "img")
    );
    assert!(updated.updated_at.is_some());
    assert!(
        baymodels::update(&mut conn, Uuid::new_v4(), &changed, &[])
            .await
            .unwrap()
            .is_none()
    );
}
