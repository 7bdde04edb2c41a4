//! Claiming and releasing worker Nodes, and reading them back as [`ObservedNode`]s.
//!
//! A claim is a label and a taint naming the bay, written with the node's resourceVersion as a
//! precondition: of two conductors racing for one node, the second gets 409 and moves on. A
//! release removes both under the same precondition, retrying when a kubelet's status update
//! got in between.

use super::api::Failure;
use super::{CLAIMED_AT_ANNOTATION, KubernetesDriver, bay_taint, project_label_value};
use crate::{
    BAY_LABEL, BayTarget, DEFAULT_WORKER, DriverError, GroupTarget, NODEGROUP_LABEL, NodeStatus,
    ObservedNode, PROJECT_LABEL,
};
use k8s_openapi::api::core::v1::{Node, Taint};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, ListParams, Patch, PatchParams};
use serde_json::{Value, json};
use uuid::Uuid;

/// Attempts at one claim or release when the node keeps changing under us.
const ATTEMPTS: usize = 5;

/// Page size when listing nodes.
const PAGE: u32 = 250;

/// What happened to one claim attempt.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Claim {
    /// The node now carries this bay's label and taint; its current copy.
    Won(Box<Node>),
    /// Another bay took it, or it vanished or stopped being a candidate.
    Lost,
}

/// The node's name.
pub(super) fn name(node: &Node) -> &str {
    node.metadata.name.as_deref().unwrap_or_default()
}

/// The bay a node is claimed by, if any.
pub(super) fn holder(node: &Node) -> Option<&str> {
    node.metadata
        .labels
        .as_ref()?
        .get(BAY_LABEL)
        .map(String::as_str)
}

/// The nodegroup a held node was claimed for ([`DEFAULT_WORKER`] when unlabelled).
pub(super) fn group_of(node: &Node) -> &str {
    node.metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(NODEGROUP_LABEL))
        .map_or(DEFAULT_WORKER, String::as_str)
}

/// The node's `Ready` condition: `True` → Ready, `False` → NotReady, else Unknown.
pub(super) fn status(node: &Node) -> NodeStatus {
    let ready = node
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|c| c.iter().find(|c| c.type_ == "Ready"));
    match ready.map(|c| c.status.as_str()) {
        Some("True") => NodeStatus::Ready,
        Some("False") => NodeStatus::NotReady,
        _ => NodeStatus::Unknown,
    }
}

/// Free (no bay label), Ready, schedulable and not being deleted: a node worth claiming.
pub(super) fn is_candidate(node: &Node) -> bool {
    holder(node).is_none()
        && status(node) == NodeStatus::Ready
        && !node
            .spec
            .as_ref()
            .and_then(|s| s.unschedulable)
            .unwrap_or(false)
        && node.metadata.deletion_timestamp.is_none()
}

fn taints(node: &Node) -> Vec<Taint> {
    node.spec
        .as_ref()
        .and_then(|s| s.taints.clone())
        .unwrap_or_default()
}

fn is_bay_taint(taint: &Taint) -> bool {
    taint.key == BAY_LABEL
}

/// The merge patch that claims `node` for `group` of `bay`, guarded by the node's
/// resourceVersion.
pub(super) fn claim_patch(node: &Node, bay: &BayTarget, group: &str) -> Value {
    let mut kept: Vec<Taint> = taints(node)
        .into_iter()
        .filter(|t| !is_bay_taint(t))
        .collect();
    kept.push(bay_taint(&bay.uuid));
    json!({
        "metadata": {
            "resourceVersion": node.metadata.resource_version,
            "labels": {
                BAY_LABEL: bay.uuid.to_string(),
                PROJECT_LABEL: project_label_value(&bay.project_id),
                NODEGROUP_LABEL: group,
            },
            "annotations": {CLAIMED_AT_ANNOTATION: Timestamp::now().to_string()},
        },
        "spec": {"taints": kept},
    })
}

/// The merge patch that releases `node`, guarded by its resourceVersion. Other taints stay.
pub(super) fn release_patch(node: &Node) -> Value {
    let kept: Vec<Taint> = taints(node)
        .into_iter()
        .filter(|t| !is_bay_taint(t))
        .collect();
    let taints = if kept.is_empty() {
        Value::Null
    } else {
        json!(kept)
    };
    json!({
        "metadata": {
            "resourceVersion": node.metadata.resource_version,
            "labels": {BAY_LABEL: null, PROJECT_LABEL: null, NODEGROUP_LABEL: null},
            "annotations": {CLAIMED_AT_ANNOTATION: null},
        },
        "spec": {"taints": taints},
    })
}

fn claimed_at(node: &Node) -> Option<Timestamp> {
    node.metadata
        .annotations
        .as_ref()?
        .get(CLAIMED_AT_ANNOTATION)?
        .parse()
        .ok()
}

/// The order in which held nodes are released when scaling down: those the caller named (in
/// its order), then the newest claims first, ties broken by name (last first).
pub(super) fn release_order<'a>(held: &'a [Node], named: &[String]) -> Vec<&'a Node> {
    let mut order: Vec<&Node> = Vec::new();
    for want in named {
        if let Some(node) = held.iter().find(|n| name(n) == want)
            && !order.iter().any(|o| name(o) == want)
        {
            order.push(node);
        }
    }
    let mut rest: Vec<&Node> = held
        .iter()
        .filter(|n| !named.iter().any(|w| w == name(n)))
        .collect();
    rest.sort_by(|a, b| {
        claimed_at(b)
            .cmp(&claimed_at(a))
            .then_with(|| name(b).cmp(name(a)))
    });
    order.extend(rest);
    order
}

/// A node as the conductor shows it.
pub(super) fn observed(node: &Node) -> ObservedNode {
    let status_block = node.status.as_ref();
    let mut addresses: Vec<String> = Vec::new();
    for address in status_block
        .and_then(|s| s.addresses.as_ref())
        .into_iter()
        .flatten()
    {
        if !addresses.contains(&address.address) {
            addresses.push(address.address.clone());
        }
    }
    let info = status_block.and_then(|s| s.node_info.as_ref());
    let quantities = |q: Option<
        &std::collections::BTreeMap<
            String,
            k8s_openapi::apimachinery::pkg::api::resource::Quantity,
        >,
    >| {
        q.map(|q| {
            q.iter()
                .map(|(k, v)| (k.clone(), json!(v.0)))
                .collect::<serde_json::Map<_, _>>()
        })
    };
    ObservedNode {
        backend_id: name(node).to_owned(),
        name: name(node).to_owned(),
        addresses,
        status: status(node),
        nodegroup: group_of(node).to_owned(),
        info: json!({
            "kubelet_version": info.map(|i| i.kubelet_version.clone()),
            "container_runtime_version": info.map(|i| i.container_runtime_version.clone()),
            "os_image": info.map(|i| i.os_image.clone()),
            "kernel_version": info.map(|i| i.kernel_version.clone()),
            "architecture": info.map(|i| i.architecture.clone()),
            "capacity": quantities(status_block.and_then(|s| s.capacity.as_ref())),
            "allocatable": quantities(status_block.and_then(|s| s.allocatable.as_ref())),
            "unschedulable": node.spec.as_ref().and_then(|s| s.unschedulable).unwrap_or(false),
        }),
    }
}

impl KubernetesDriver {
    fn nodes(&self) -> Api<Node> {
        Api::all(self.client.clone())
    }

    /// Every node matching `selector`, following `continue` tokens.
    pub(super) async fn list_nodes(&self, selector: &str) -> Result<Vec<Node>, DriverError> {
        let what = format!("list Nodes matching {selector:?}");
        let mut params = ListParams::default().labels(selector).limit(PAGE);
        let mut all = Vec::new();
        loop {
            let page = self
                .call(&what, self.nodes().list(&params))
                .await
                .map_err(|f| f.into_driver(&what))?;
            all.extend(page.items);
            match page.metadata.continue_.filter(|c| !c.is_empty()) {
                Some(token) => params = params.continue_token(&token),
                None => break,
            }
        }
        all.sort_by(|a, b| name(a).cmp(name(b)));
        Ok(all)
    }

    /// Nodes labelled with this bay, wherever they are.
    pub(super) async fn held_nodes(&self, bay: &Uuid) -> Result<Vec<Node>, DriverError> {
        self.list_nodes(&format!("{BAY_LABEL}={bay}")).await
    }

    /// Free, Ready pool nodes, by name.
    pub(super) async fn candidate_nodes(&self) -> Result<Vec<Node>, DriverError> {
        let pool = self.pool_selector.trim();
        let selector = if pool.is_empty() {
            format!("!{BAY_LABEL}")
        } else {
            format!("{pool},!{BAY_LABEL}")
        };
        let mut nodes = self.list_nodes(&selector).await?;
        nodes.retain(is_candidate);
        Ok(nodes)
    }

    /// Claims one node for `group` of the bay: `Lost` when another bay won it or it stopped
    /// qualifying.
    pub(super) async fn claim(
        &self,
        node: &Node,
        bay: &BayTarget,
        group: &str,
    ) -> Result<Claim, DriverError> {
        let node_name = name(node).to_owned();
        let what = format!("claim Node {node_name} for bay {}", bay.uuid);
        let mut current = node.clone();
        for _ in 0..ATTEMPTS {
            let patch = claim_patch(&current, bay, group);
            match self.patch_node(&node_name, &patch, &what).await {
                Ok(claimed) => {
                    tracing::info!(bay.uuid = %bay.uuid, node = %node_name, nodegroup = group, "claimed node");
                    return Ok(Claim::Won(Box::new(claimed)));
                }
                Err(f) if f.code() == Some(404) => return Ok(Claim::Lost),
                Err(f) if f.code() == Some(409) => {
                    // Someone wrote the node since we read it: another conductor, or a kubelet.
                    match self.get_node(&node_name, &what).await? {
                        Some(fresh) if is_candidate(&fresh) => current = fresh,
                        Some(fresh) if holder(&fresh) == Some(&bay.uuid.to_string()) => {
                            return Ok(Claim::Won(Box::new(fresh)));
                        }
                        _ => return Ok(Claim::Lost),
                    }
                }
                Err(f) => return Err(f.into_driver(&what)),
            }
        }
        Ok(Claim::Lost)
    }

    /// Releases one node held by the bay; a node gone or held by another bay needs nothing.
    pub(super) async fn release(&self, node: &Node, bay: &Uuid) -> Result<(), DriverError> {
        let node_name = name(node).to_owned();
        let what = format!("release Node {node_name} from bay {bay}");
        let mut current = node.clone();
        for _ in 0..ATTEMPTS {
            if holder(&current) != Some(&bay.to_string()) {
                return Ok(());
            }
            let patch = release_patch(&current);
            match self.patch_node(&node_name, &patch, &what).await {
                Ok(_) => {
                    tracing::info!(bay.uuid = %bay, node = %node_name, "released node");
                    return Ok(());
                }
                Err(f) if f.code() == Some(404) => return Ok(()),
                Err(f) if f.code() == Some(409) => match self.get_node(&node_name, &what).await? {
                    Some(fresh) => current = fresh,
                    None => return Ok(()),
                },
                Err(f) => return Err(f.into_driver(&what)),
            }
        }
        Err(DriverError::Refused(format!(
            "Kubernetes refused to {what}: the node kept changing ({ATTEMPTS} conflicts)."
        )))
    }

    /// Releases several nodes, all attempted; the first error is returned.
    pub(super) async fn release_all(&self, nodes: &[&Node], bay: &Uuid) -> Result<(), DriverError> {
        let mut first = None;
        for node in nodes {
            if let Err(e) = self.release(node, bay).await {
                tracing::warn!(bay.uuid = %bay, node = name(node), error = %e, "release failed");
                first.get_or_insert(e);
            }
        }
        first.map_or(Ok(()), Err)
    }

    async fn patch_node(
        &self,
        node_name: &str,
        patch: &Value,
        what: &str,
    ) -> Result<Node, Failure> {
        let params = PatchParams::default();
        self.call(
            what,
            self.nodes().patch(node_name, &params, &Patch::Merge(patch)),
        )
        .await
    }

    async fn get_node(&self, node_name: &str, what: &str) -> Result<Option<Node>, DriverError> {
        match self.call(what, self.nodes().get(node_name)).await {
            Ok(node) => Ok(Some(node)),
            Err(f) if f.code() == Some(404) => Ok(None),
            Err(f) => Err(f.into_driver(what)),
        }
    }

    /// Brings each worker group's held nodes to its count: releases the nodes of groups no
    /// longer wanted and each group's surplus (named nodes first, then its newest claims), then
    /// claims free pool nodes for the groups short of nodes. Returns nothing;
    /// [`super::KubernetesDriver::observe`] reads the result back.
    pub(super) async fn converge_nodes(&self, bay: &BayTarget) -> Result<(), DriverError> {
        let held = self.held_nodes(&bay.uuid).await?;
        let groups = bay.all_groups();
        let wanted = |g: &GroupTarget| usize::try_from(g.node_count).unwrap_or(usize::MAX);
        let mut releases: Vec<&Node> = held
            .iter()
            .filter(|n| groups.iter().all(|g| g.name != group_of(n)))
            .collect();
        let mut short: Vec<(&GroupTarget, usize)> = Vec::new();
        for group in &groups {
            let mine: Vec<Node> = held
                .iter()
                .filter(|n| group_of(n) == group.name)
                .cloned()
                .collect();
            if mine.len() > wanted(group) {
                let surplus = mine.len() - wanted(group);
                let order = release_order(&mine, &bay.nodes_to_remove);
                for node in &order[..surplus] {
                    if let Some(original) = held.iter().find(|n| name(n) == name(node)) {
                        releases.push(original);
                    }
                }
            } else if mine.len() < wanted(group) {
                short.push((group, mine.len()));
            }
        }
        self.release_all(&releases, &bay.uuid).await?;
        if short.is_empty() {
            return Ok(());
        }
        let candidates = self.candidate_nodes().await?;
        // Refuse before claiming anything when the pool cannot cover every group.
        let mut left = candidates.len();
        for (group, have) in &short {
            let need = wanted(group) - have;
            if need > left {
                return Err(bay.insufficient(
                    "Kubernetes nodes",
                    &group.name,
                    wanted(group),
                    have + left,
                ));
            }
            left -= need;
        }
        let mut pool = candidates.iter();
        let mut claimed: Vec<Node> = Vec::new();
        let mut failure = None;
        'groups: for (group, have) in short {
            let mut got = 0;
            while have + got < wanted(group) {
                let Some(node) = pool.next() else {
                    tracing::info!(bay.uuid = %bay.uuid, nodegroup = %group.name, "not enough free nodes");
                    failure = Some(bay.insufficient(
                        "Kubernetes nodes",
                        &group.name,
                        wanted(group),
                        have + got,
                    ));
                    break 'groups;
                };
                match self.claim(node, bay, &group.name).await {
                    Ok(Claim::Won(node)) => {
                        claimed.push(*node);
                        got += 1;
                    }
                    Ok(Claim::Lost) => {}
                    Err(e) => {
                        failure = Some(e);
                        break 'groups;
                    }
                }
            }
        }
        match failure {
            None => Ok(()),
            Some(e) => {
                // Leave nothing behind that this call took; the error says why.
                let _ = self
                    .release_all(&claimed.iter().collect::<Vec<_>>(), &bay.uuid)
                    .await;
                Err(e)
            }
        }
    }

    /// One bounded API call (see [`super::api::bounded`]).
    pub(super) async fn call<T>(
        &self,
        what: &str,
        call: impl std::future::Future<Output = Result<T, kube::Error>>,
    ) -> Result<T, Failure> {
        super::api::bounded(self.timeout, what, call).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str, labels: &[(&str, &str)], ready: Option<&str>) -> Node {
        serde_json::from_value(json!({
            "metadata": {
                "name": name,
                "resourceVersion": "42",
                "labels": labels.iter().map(|(k, v)| ((*k).to_owned(), json!(v))).collect::<serde_json::Map<_, _>>(),
            },
            "spec": {"taints": [{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]},
            "status": {
                "conditions": ready.map(|s| vec![json!({"type": "Ready", "status": s})]).unwrap_or_default(),
                "addresses": [
                    {"type": "InternalIP", "address": "192.0.2.7"},
                    {"type": "Hostname", "address": name},
                    {"type": "ExternalDNS", "address": name},
                ],
            },
        }))
        .expect("node JSON")
    }

    fn bay() -> BayTarget {
        BayTarget {
            uuid: Uuid::from_u128(9),
            project_id: "p1".into(),
            name: "b".into(),
            node_count: 1,
            labels: Default::default(),
            nodes_to_remove: vec![],
            groups: vec![],
        }
    }

    #[test]
    fn ready_condition_maps_to_node_status() {
        assert_eq!(status(&node("a", &[], Some("True"))), NodeStatus::Ready);
        assert_eq!(status(&node("a", &[], Some("False"))), NodeStatus::NotReady);
        assert_eq!(
            status(&node("a", &[], Some("Unknown"))),
            NodeStatus::Unknown
        );
        assert_eq!(status(&node("a", &[], None)), NodeStatus::Unknown);
        assert!(is_candidate(&node("a", &[], Some("True"))));
        assert!(!is_candidate(&node("a", &[(BAY_LABEL, "x")], Some("True"))));
        assert!(!is_candidate(&node("a", &[], Some("False"))));
    }

    #[test]
    fn claim_and_release_patches_carry_the_resource_version_and_keep_other_taints() {
        let n = node("a", &[], Some("True"));
        let claim = claim_patch(&n, &bay(), "gpu");
        assert_eq!(claim["metadata"]["labels"][NODEGROUP_LABEL], "gpu");
        assert_eq!(claim["metadata"]["resourceVersion"], "42");
        assert_eq!(
            claim["metadata"]["labels"][BAY_LABEL],
            Uuid::from_u128(9).to_string()
        );
        let taints = claim["spec"]["taints"].as_array().expect("taints");
        assert_eq!(taints.len(), 2);
        assert_eq!(taints[1]["key"], BAY_LABEL);
        assert_eq!(taints[1]["effect"], "NoSchedule");

        let mut held: Node = n.clone();
        held.spec
            .as_mut()
            .unwrap()
            .taints
            .as_mut()
            .unwrap()
            .push(bay_taint(&Uuid::from_u128(9)));
        let release = release_patch(&held);
        assert_eq!(release["metadata"]["resourceVersion"], "42");
        assert!(release["metadata"]["labels"][BAY_LABEL].is_null());
        assert!(release["metadata"]["labels"][NODEGROUP_LABEL].is_null());
        assert_eq!(release["spec"]["taints"].as_array().map(Vec::len), Some(1));
    }

    #[test]
    fn named_nodes_go_first_then_newest_claims() {
        let mut nodes = vec![
            node("a", &[], None),
            node("b", &[], None),
            node("c", &[], None),
        ];
        for (n, at) in nodes.iter_mut().zip([
            "2024-01-01T00:00:00Z",
            "2024-03-01T00:00:00Z",
            "2024-02-01T00:00:00Z",
        ]) {
            n.metadata.annotations =
                Some([(CLAIMED_AT_ANNOTATION.to_owned(), at.to_owned())].into());
        }
        let order: Vec<&str> = release_order(&nodes, &[]).into_iter().map(name).collect();
        assert_eq!(order, ["b", "c", "a"]);
        let named: Vec<String> = ["a", "zz", "c", "a"].map(String::from).into();
        let order: Vec<&str> = release_order(&nodes, &named)
            .into_iter()
            .map(name)
            .collect();
        assert_eq!(order, ["a", "c", "b"]);
    }

    #[test]
    fn observed_nodes_carry_addresses_and_info() {
        let seen = observed(&node("a", &[], Some("False")));
        assert_eq!(seen.addresses, ["192.0.2.7", "a"]);
        assert_eq!(seen.status, NodeStatus::NotReady);
        assert_eq!(seen.backend_id, "a");
    }
}
