//! How objects look in HTTP answers: field selection, timestamps with an offset, and links.

use chrono::{DateTime, SecondsFormat, Utc};
use magnum_core::bay::{Bay, BayStatus, HealthStatus};
use magnum_core::baymodel::BayModel;
use magnum_core::node::Node;
use magnum_core::nodegroup::{DEFAULT_MASTER, DEFAULT_WORKER, NodeGroup};
use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};
use serde_json::{Map, Value, json};

/// ISO 8601 with whole seconds and an explicit offset: `2015-10-19T12:34:56+00:00`.
pub(crate) fn timestamp(at: Option<&DateTime<Utc>>) -> Value {
    at.map_or(Value::Null, |at| {
        Value::String(at.to_rfc3339_opts(SecondsFormat::Secs, false))
    })
}

/// The URL families of one record type (spec/rest-api.md: one table, two URL families).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TemplateFamily {
    /// `/v1/baymodels`, policy `baymodel:*`.
    BayModels,
    /// `/v1/clustertemplates`, policy `clustertemplate:*`.
    ClusterTemplates,
}

impl TemplateFamily {
    /// Collection name in URLs and list bodies.
    pub(crate) fn collection(self) -> &'static str {
        match self {
            TemplateFamily::BayModels => "baymodels",
            TemplateFamily::ClusterTemplates => "clustertemplates",
        }
    }

    /// Policy rule `<prefix>:<action>`.
    pub(crate) fn rule(self, action: &str) -> String {
        let prefix = match self {
            TemplateFamily::BayModels => "baymodel",
            TemplateFamily::ClusterTemplates => "clustertemplate",
        };
        format!("{prefix}:{action}")
    }

    /// The argument name in validation messages.
    pub(crate) fn argument(self) -> &'static str {
        match self {
            TemplateFamily::BayModels => magnum_core::baymodel::BAYMODEL_ARGUMENT,
            TemplateFamily::ClusterTemplates => magnum_core::baymodel::CLUSTER_TEMPLATE_ARGUMENT,
        }
    }

    /// The kind in messages.
    pub(crate) fn kind(self) -> &'static str {
        match self {
            TemplateFamily::BayModels => "BayModel",
            TemplateFamily::ClusterTemplates => "ClusterTemplate",
        }
    }

    /// Fields of a plain list item; `None`: full items.
    fn reduced(self) -> Option<&'static [&'static str]> {
        match self {
            TemplateFamily::BayModels => Some(&[
                "uuid",
                "name",
                "coe",
                "image_id",
                "apiserver_port",
                "registry_enabled",
                "tls_disabled",
                "public",
                "links",
            ]),
            TemplateFamily::ClusterTemplates => None,
        }
    }

    /// Renders a template; `reduced` picks the plain-list fields.
    pub(crate) fn view<'a>(
        self,
        model: &'a BayModel,
        base: &'a str,
        reduced: bool,
    ) -> BayModelView<'a> {
        BayModelView {
            model,
            base,
            collection: self.collection(),
            reduced: reduced && self.reduced().is_some(),
        }
    }
}

/// A template as answers show it: the record without `id`, timestamps with an offset, `links`;
/// written field by field with the keys in sorted order (the order a `Value` rendering has).
#[derive(Debug, Clone, Copy)]
pub(crate) struct BayModelView<'a> {
    model: &'a BayModel,
    base: &'a str,
    collection: &'static str,
    /// Only the plain-list fields of [`TemplateFamily::reduced`].
    reduced: bool,
}

impl Serialize for BayModelView<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let m = self.model;
        let full = !self.reduced;
        let time = |at: Option<&DateTime<Utc>>| {
            at.map(|at| at.to_rfc3339_opts(SecondsFormat::Secs, false))
        };
        let links = Links {
            base: self.base,
            collection: self.collection,
            id: &m.uuid.to_string(),
        };
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("apiserver_port", &m.apiserver_port)?;
        if full {
            map.serialize_entry("cluster_distro", &m.cluster_distro)?;
        }
        map.serialize_entry("coe", &m.coe)?;
        if full {
            map.serialize_entry("created_at", &time(m.created_at.as_ref()))?;
            map.serialize_entry("dns_nameserver", &m.dns_nameserver)?;
            map.serialize_entry("docker_storage_driver", &m.docker_storage_driver)?;
            map.serialize_entry("docker_volume_size", &m.docker_volume_size)?;
            map.serialize_entry("driver", &m.driver)?;
            map.serialize_entry("external_network_id", &m.external_network_id)?;
            map.serialize_entry("fixed_network", &m.fixed_network)?;
            map.serialize_entry("fixed_subnet", &m.fixed_subnet)?;
            map.serialize_entry("flavor_id", &m.flavor_id)?;
            map.serialize_entry("floating_ip_enabled", &m.floating_ip_enabled)?;
            map.serialize_entry("hidden", &m.hidden)?;
            map.serialize_entry("http_proxy", &m.http_proxy)?;
            map.serialize_entry("https_proxy", &m.https_proxy)?;
        }
        map.serialize_entry("image_id", &m.image_id)?;
        if full {
            map.serialize_entry("insecure_registry", &m.insecure_registry)?;
            map.serialize_entry("keypair_id", &m.keypair_id)?;
            map.serialize_entry("labels", &m.labels)?;
        }
        map.serialize_entry("links", &links)?;
        if full {
            map.serialize_entry("master_flavor_id", &m.master_flavor_id)?;
            map.serialize_entry("master_lb_enabled", &m.master_lb_enabled)?;
        }
        map.serialize_entry("name", &m.name)?;
        if full {
            map.serialize_entry("network_driver", &m.network_driver)?;
            map.serialize_entry("no_proxy", &m.no_proxy)?;
            map.serialize_entry("project_id", &m.project_id)?;
        }
        map.serialize_entry("public", &m.public)?;
        map.serialize_entry("registry_enabled", &m.registry_enabled)?;
        if full {
            map.serialize_entry("server_type", &m.server_type)?;
            map.serialize_entry("ssh_authorized_key", &m.ssh_authorized_key)?;
            map.serialize_entry("tags", &m.tags)?;
        }
        map.serialize_entry("tls_disabled", &m.tls_disabled)?;
        if full {
            map.serialize_entry("updated_at", &time(m.updated_at.as_ref()))?;
            map.serialize_entry("user_id", &m.user_id)?;
        }
        map.serialize_entry("uuid", &m.uuid)?;
        if full {
            map.serialize_entry("volume_driver", &m.volume_driver)?;
        }
        map.end()
    }
}

/// [`crate::links::links`] written directly.
struct Links<'a> {
    base: &'a str,
    collection: &'a str,
    id: &'a str,
}

impl Serialize for Links<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (base, collection, id) = (self.base, self.collection, self.id);
        let mut seq = s.serialize_seq(Some(2))?;
        seq.serialize_element(&Link {
            href: &format_args!("{base}/v1/{collection}/{id}"),
            rel: "self",
        })?;
        seq.serialize_element(&Link {
            href: &format_args!("{base}/{collection}/{id}"),
            rel: "bookmark",
        })?;
        seq.end()
    }
}

#[derive(Serialize)]
struct Link<'a> {
    #[serde(serialize_with = "display")]
    href: &'a std::fmt::Arguments<'a>,
    rel: &'static str,
}

fn display<S: Serializer>(text: &&std::fmt::Arguments<'_>, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(text)
}

/// The URL families of bays (spec/rest-api.md §3.2, §4.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BayFamily {
    /// `/v1/bays`, policy `bay:*`.
    Bays,
    /// `/v1/clusters`, policy `cluster:*`.
    Clusters,
}

impl BayFamily {
    /// Collection name in URLs and list bodies.
    pub(crate) fn collection(self) -> &'static str {
        match self {
            BayFamily::Bays => "bays",
            BayFamily::Clusters => "clusters",
        }
    }

    /// Policy rule `<prefix>:<action>`.
    pub(crate) fn rule(self, action: &str) -> String {
        match self {
            BayFamily::Bays => format!("bay:{action}"),
            BayFamily::Clusters => format!("cluster:{action}"),
        }
    }

    /// The kind in messages.
    pub(crate) fn kind(self) -> &'static str {
        match self {
            BayFamily::Bays => "Bay",
            BayFamily::Clusters => "Cluster",
        }
    }

    /// The template family its parent references belong to.
    pub(crate) fn templates(self) -> TemplateFamily {
        match self {
            BayFamily::Bays => TemplateFamily::BayModels,
            BayFamily::Clusters => TemplateFamily::ClusterTemplates,
        }
    }

    /// Renders a bay; `reduced` picks the plain-list fields.
    pub(crate) fn view(self, bay: &Bay, base: &str, reduced: bool) -> Value {
        let mut item = Map::new();
        let mut put = |k: &str, v: Value| {
            item.insert(k.to_owned(), v);
        };
        put("uuid", json!(bay.uuid));
        put("name", json!(bay.name));
        put("node_count", json!(bay.node_count));
        put("master_count", json!(bay.master_count));
        put("status", json!(bay.status.as_str()));
        put(
            "links",
            crate::links::links(base, self.collection(), &bay.uuid.to_string()),
        );
        let health = bay.health_status.map(HealthStatus::as_str);
        match self {
            BayFamily::Bays => {
                put("baymodel_id", json!(bay.baymodel_id));
                put("bay_create_timeout", json!(bay.create_timeout));
            }
            BayFamily::Clusters => {
                put("cluster_template_id", json!(bay.baymodel_id));
                put("create_timeout", json!(bay.create_timeout));
                put("keypair", json!(bay.keypair));
                put("docker_volume_size", json!(bay.docker_volume_size));
                put("labels", json!(bay.labels));
                put("health_status", json!(health));
                put("master_flavor_id", json!(bay.master_flavor_id));
                put("flavor_id", json!(bay.flavor_id));
                put("stack_id", json!(bay.stack_id));
            }
        }
        if reduced {
            return Value::Object(item);
        }
        put("status_reason", json!(bay.status_reason));
        put("discovery_url", json!(bay.discovery_url));
        put("api_address", json!(bay.api_address));
        put("node_addresses", json!(bay.node_addresses));
        put("master_addresses", json!(bay.master_addresses));
        put("coe_version", json!(bay.coe_version));
        put("container_version", json!(bay.container_version));
        put("health_status", json!(health));
        put("stack_id", json!(bay.stack_id));
        put("created_at", timestamp(bay.created_at.as_ref()));
        put("updated_at", timestamp(bay.updated_at.as_ref()));
        if self == BayFamily::Clusters {
            put(
                "health_status_reason",
                json!(bay.health_status_reason.clone().unwrap_or_default()),
            );
            put("project_id", json!(bay.project_id));
            put("user_id", json!(bay.user_id));
            put("fixed_network", json!(bay.fixed_network));
            put("fixed_subnet", json!(bay.fixed_subnet));
            put("floating_ip_enabled", json!(bay.floating_ip_enabled));
            put("master_lb_enabled", json!(bay.master_lb_enabled));
            let failed = matches!(
                bay.status,
                BayStatus::CreateFailed | BayStatus::UpdateFailed | BayStatus::DeleteFailed
            );
            let faults = match (&bay.status_reason, failed) {
                (Some(reason), true) => json!({"default-worker": reason}),
                _ => json!({}),
            };
            put("faults", faults);
        }
        Value::Object(item)
    }
}

/// Renders a node.
pub(crate) fn node_view(node: &Node, base: &str, reduced: bool) -> Value {
    let mut item = json!({
        "uuid": node.uuid, "type": node.node_type, "image_id": node.image_id,
        "ironic_node_id": node.ironic_node_id,
        "links": crate::links::links(base, "nodes", &node.uuid.to_string()),
    });
    if !reduced && let Value::Object(map) = &mut item {
        map.insert("name".into(), json!(node.name));
        map.insert("bay_uuid".into(), json!(node.bay_uuid));
        map.insert("role".into(), json!(node.role));
        map.insert("status".into(), json!(node.status));
        map.insert("addresses".into(), json!(node.addresses));
        map.insert("created_at".into(), timestamp(node.created_at.as_ref()));
        map.insert("updated_at".into(), timestamp(node.updated_at.as_ref()));
    }
    item
}

/// The fields every nodegroup view has; the group's own ones are set by the caller.
fn nodegroup_item(bay: &Bay, uuid: &uuid::Uuid, base: &str) -> Map<String, Value> {
    let cluster = bay.uuid.to_string();
    let mut item = Map::new();
    item.insert("uuid".into(), json!(uuid));
    item.insert("cluster_id".into(), json!(cluster));
    item.insert("project_id".into(), json!(bay.project_id));
    item.insert("stack_id".into(), json!(bay.stack_id));
    item.insert("version".into(), Value::Null);
    item.insert(
        "links".into(),
        crate::links::links(
            base,
            &format!("clusters/{cluster}/nodegroups"),
            &uuid.to_string(),
        ),
    );
    item
}

/// The two nodegroups every cluster has, derived from the bay (spec/rest-api.md §4.3).
pub(crate) fn default_nodegroups(bay: &Bay, image_id: &str, base: &str) -> Vec<Value> {
    let group =
        |name: &str, role: &str, count: i32, flavor: &Option<String>, addresses: &[String]| {
            let uuid = uuid::Uuid::new_v5(&bay.uuid, name.as_bytes());
            let mut item = nodegroup_item(bay, &uuid, base);
            let own = json!({
                "name": name, "role": role, "is_default": true, "node_count": count,
                "min_node_count": 0, "max_node_count": null, "flavor_id": flavor,
                "image_id": image_id, "docker_volume_size": bay.docker_volume_size,
                "labels": bay.labels, "node_addresses": addresses, "status": bay.status.as_str(),
                "status_reason": bay.status_reason,
                "created_at": timestamp(bay.created_at.as_ref()),
                "updated_at": timestamp(bay.updated_at.as_ref()),
            });
            if let Value::Object(own) = own {
                item.extend(own);
            }
            Value::Object(item)
        };
    vec![
        group(
            DEFAULT_MASTER,
            "master",
            bay.master_count,
            &bay.master_flavor_id,
            &bay.master_addresses,
        ),
        group(
            DEFAULT_WORKER,
            "worker",
            bay.node_count,
            &bay.flavor_id,
            &bay.node_addresses,
        ),
    ]
}

/// A stored worker nodegroup of `bay`. `node_count` is the nodes it holds once settled, and the
/// count it moves to while an operation runs; `node_addresses` are its own nodes'.
pub(crate) fn stored_nodegroup(bay: &Bay, group: &NodeGroup, base: &str) -> Value {
    let mut item = nodegroup_item(bay, &group.uuid, base);
    let count = if group.status.in_progress() {
        group.node_count
    } else {
        group.nodes_held
    };
    let own = json!({
        "name": group.name, "role": group.role, "is_default": false, "node_count": count,
        "min_node_count": group.min_node_count, "max_node_count": group.max_node_count,
        "flavor_id": group.flavor_id, "image_id": group.image_id,
        "docker_volume_size": group.docker_volume_size, "labels": group.labels,
        "node_addresses": group.node_addresses, "status": group.status.as_str(),
        "status_reason": group.status_reason,
        "created_at": timestamp(group.created_at.as_ref()),
        "updated_at": timestamp(group.updated_at.as_ref()),
    });
    if let Value::Object(own) = own {
        item.extend(own);
    }
    Value::Object(item)
}

#[cfg(test)]
mod tests {
    use super::*;
    use magnum_core::baymodel::Coe;

    /// How a template was rendered through a `Value` before [`BayModelView`].
    fn tree_view(family: TemplateFamily, model: &BayModel, base: &str, reduced: bool) -> Value {
        let Ok(Value::Object(mut item)) = serde_json::to_value(model) else {
            unreachable!("a struct serializes to an object")
        };
        item.remove("id");
        item.insert("created_at".into(), timestamp(model.created_at.as_ref()));
        item.insert("updated_at".into(), timestamp(model.updated_at.as_ref()));
        item.insert(
            "links".into(),
            crate::links::links(base, family.collection(), &model.uuid.to_string()),
        );
        if let (true, Some(fields)) = (reduced, family.reduced()) {
            item.retain(|k, _| fields.contains(&k.as_str()));
        }
        Value::Object(item)
    }

    #[test]
    fn template_views_are_the_bytes_of_the_value_rendering() {
        let at = chrono::DateTime::parse_from_rfc3339("2026-12-04T02:30:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let text = |s: &str| Some(format!("{s} \"q\" caf\u{e9}"));
        let full = BayModel {
            id: 42,
            uuid: uuid::Uuid::new_v4(),
            project_id: "demo".into(),
            user_id: "alice".into(),
            name: text("name"),
            coe: Coe::Kubernetes,
            image_id: "img".into(),
            flavor_id: text("flavor"),
            master_flavor_id: text("mflavor"),
            keypair_id: text("key"),
            dns_nameserver: text("dns"),
            external_network_id: text("ext"),
            fixed_network: text("net"),
            fixed_subnet: text("subnet"),
            network_driver: text("flannel"),
            apiserver_port: Some(6443),
            docker_volume_size: Some(3),
            docker_storage_driver: text("overlay2"),
            ssh_authorized_key: text("ssh-rsa"),
            cluster_distro: text("fedora"),
            http_proxy: text("http"),
            https_proxy: text("https"),
            no_proxy: text("no"),
            volume_driver: text("cinder"),
            insecure_registry: text("reg"),
            labels: [("a".to_owned(), "1".to_owned())].into(),
            registry_enabled: true,
            tls_disabled: false,
            public: true,
            hidden: false,
            floating_ip_enabled: true,
            master_lb_enabled: false,
            server_type: "vm".into(),
            tags: text("tags"),
            driver: text("k8s"),
            created_at: Some(at),
            updated_at: Some(at),
        };
        let bare = BayModel {
            name: None,
            apiserver_port: None,
            docker_storage_driver: None,
            labels: Default::default(),
            updated_at: None,
            ..full.clone()
        };
        for model in [&full, &bare] {
            for family in [TemplateFamily::BayModels, TemplateFamily::ClusterTemplates] {
                for reduced in [false, true] {
                    let base = "http://h:9511";
                    assert_eq!(
                        serde_json::to_string(&family.view(model, base, reduced)).unwrap(),
                        tree_view(family, model, base, reduced).to_string(),
                        "{family:?} reduced={reduced}"
                    );
                }
            }
        }
    }
}
