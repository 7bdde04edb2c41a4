//! How objects look in HTTP answers: field selection, timestamps with an offset, and links.

use chrono::{DateTime, SecondsFormat, Utc};
use magnum_core::bay::{Bay, BayStatus, HealthStatus};
use magnum_core::baymodel::BayModel;
use magnum_core::node::Node;
use magnum_core::nodegroup::{DEFAULT_MASTER, DEFAULT_WORKER, NodeGroup};
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
    pub(crate) fn view(self, model: &BayModel, base: &str, reduced: bool) -> Value {
        let mut item = match serde_json::to_value(model) {
            Ok(Value::Object(map)) => map,
            _ => Map::new(),
        };
        item.remove("id");
        item.insert("created_at".into(), timestamp(model.created_at.as_ref()));
        item.insert("updated_at".into(), timestamp(model.updated_at.as_ref()));
        item.insert(
            "links".into(),
            crate::links::links(base, self.collection(), &model.uuid.to_string()),
        );
        if let (true, Some(fields)) = (reduced, self.reduced()) {
            item.retain(|k, _| fields.contains(&k.as_str()));
        }
        Value::Object(item)
    }
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
