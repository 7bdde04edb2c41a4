//! The namespaced objects that make a bay, built from its labels: pure functions, no I/O.
//!
//! Bay labels read here (values are Kubernetes quantities; absent labels take the default):
//!
//! | label | goes to | default |
//! |---|---|---|
//! | `quota_pods` | ResourceQuota `pods` | `100` |
//! | `quota_services` | ResourceQuota `services` | `20` |
//! | `quota_replicationcontrollers` | ResourceQuota `replicationcontrollers` | `20` |
//! | `quota_cpu` | ResourceQuota `requests.cpu` and `limits.cpu` | `16` |
//! | `quota_memory` | ResourceQuota `requests.memory` and `limits.memory` | `32Gi` |
//! | `default_cpu` | LimitRange container default request and limit, `cpu` | `500m` |
//! | `default_memory` | LimitRange container default request and limit, `memory` | `512Mi` |
//!
//! A quota on cpu and memory makes Kubernetes refuse pods without requests and limits; the
//! LimitRange's defaults fill them in, so tenant manifests need not name any.

use super::{
    ACCOUNT_NAME, ISOLATION_NAME, LIMITS_NAME, MANAGED_BY_LABEL, QUOTA_NAME, namespace,
    project_label_value,
};
use crate::{BAY_LABEL, BayTarget, DriverError, PROJECT_LABEL};
use k8s_openapi::api::core::v1::{
    LimitRange, LimitRangeItem, LimitRangeSpec, Namespace, ResourceQuota, ResourceQuotaSpec,
    ServiceAccount,
};
use k8s_openapi::api::networking::v1::{
    NetworkPolicy, NetworkPolicyIngressRule, NetworkPolicyPeer, NetworkPolicySpec,
};
use k8s_openapi::api::rbac::v1::{PolicyRule, Role, RoleBinding, RoleRef, Subject};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use std::collections::BTreeMap;

/// Every object of one bay, in the order they are applied.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct BayObjects {
    pub(super) namespace: Namespace,
    pub(super) service_account: ServiceAccount,
    pub(super) role: Role,
    pub(super) role_binding: RoleBinding,
    pub(super) quota: ResourceQuota,
    pub(super) limits: LimitRange,
    pub(super) isolation: NetworkPolicy,
}

impl BayObjects {
    /// Builds them from the bay; an invalid quota label is [`DriverError::Refused`] before
    /// anything is sent.
    pub(super) fn new(bay: &BayTarget) -> Result<Self, DriverError> {
        let ns = namespace(&bay.uuid);
        let labels = bay_labels(bay);
        let meta = |name: &str| ObjectMeta {
            name: Some(name.to_owned()),
            namespace: Some(ns.clone()),
            labels: Some(labels.clone()),
            ..ObjectMeta::default()
        };
        let cpu = quantity(bay, "quota_cpu", "16")?;
        let memory = quantity(bay, "quota_memory", "32Gi")?;
        let hard: BTreeMap<String, Quantity> = [
            ("pods".to_owned(), count(bay, "quota_pods", "100")?),
            ("services".to_owned(), count(bay, "quota_services", "20")?),
            (
                "replicationcontrollers".to_owned(),
                count(bay, "quota_replicationcontrollers", "20")?,
            ),
            // NodePort and LoadBalancer services open ports on every node, other bays' too.
            ("services.nodeports".to_owned(), Quantity("0".to_owned())),
            (
                "services.loadbalancers".to_owned(),
                Quantity("0".to_owned()),
            ),
            ("requests.cpu".to_owned(), cpu.clone()),
            ("limits.cpu".to_owned(), cpu),
            ("requests.memory".to_owned(), memory.clone()),
            ("limits.memory".to_owned(), memory),
        ]
        .into();
        let defaults: BTreeMap<String, Quantity> = [
            ("cpu".to_owned(), quantity(bay, "default_cpu", "500m")?),
            (
                "memory".to_owned(),
                quantity(bay, "default_memory", "512Mi")?,
            ),
        ]
        .into();
        let bay_selector = LabelSelector {
            match_labels: Some([(BAY_LABEL.to_owned(), bay.uuid.to_string())].into()),
            ..LabelSelector::default()
        };
        Ok(BayObjects {
            namespace: Namespace {
                metadata: ObjectMeta {
                    name: Some(ns.clone()),
                    // Pod Security admission: no privileged, host-network or host-path pods,
                    // which would reach beyond the bay's nodes and network policy.
                    labels: Some(
                        labels
                            .clone()
                            .into_iter()
                            .chain([(POD_SECURITY_LABEL.to_owned(), "baseline".to_owned())])
                            .collect(),
                    ),
                    ..ObjectMeta::default()
                },
                ..Namespace::default()
            },
            service_account: ServiceAccount {
                metadata: meta(ACCOUNT_NAME),
                ..ServiceAccount::default()
            },
            role: Role {
                metadata: meta(ACCOUNT_NAME),
                rules: Some(tenant_rules()),
            },
            role_binding: RoleBinding {
                metadata: meta(ACCOUNT_NAME),
                role_ref: RoleRef {
                    api_group: "rbac.authorization.k8s.io".into(),
                    kind: "Role".into(),
                    name: ACCOUNT_NAME.into(),
                },
                subjects: Some(vec![Subject {
                    kind: "ServiceAccount".into(),
                    name: ACCOUNT_NAME.into(),
                    namespace: Some(ns.clone()),
                    api_group: None,
                }]),
            },
            quota: ResourceQuota {
                metadata: meta(QUOTA_NAME),
                spec: Some(ResourceQuotaSpec {
                    hard: Some(hard),
                    ..ResourceQuotaSpec::default()
                }),
                ..ResourceQuota::default()
            },
            limits: LimitRange {
                metadata: meta(LIMITS_NAME),
                spec: Some(LimitRangeSpec {
                    limits: vec![LimitRangeItem {
                        type_: "Container".into(),
                        default: Some(defaults.clone()),
                        default_request: Some(defaults),
                        ..LimitRangeItem::default()
                    }],
                }),
            },
            // All pods selected, Ingress only: whatever no rule admits is denied. The one rule
            // admits pods of namespaces labelled with this bay, i.e. of the bay itself.
            isolation: NetworkPolicy {
                metadata: meta(ISOLATION_NAME),
                spec: Some(NetworkPolicySpec {
                    pod_selector: Some(LabelSelector::default()),
                    policy_types: Some(vec!["Ingress".into()]),
                    ingress: Some(vec![NetworkPolicyIngressRule {
                        from: Some(vec![NetworkPolicyPeer {
                            namespace_selector: Some(bay_selector),
                            ..NetworkPolicyPeer::default()
                        }]),
                        ports: None,
                    }]),
                    egress: None,
                }),
            },
        })
    }
}

/// The namespace label that makes Pod Security admission enforce a level.
pub(super) const POD_SECURITY_LABEL: &str = "pod-security.kubernetes.io/enforce";

/// Labels on every object a bay owns.
pub(super) fn bay_labels(bay: &BayTarget) -> BTreeMap<String, String> {
    [
        (BAY_LABEL.to_owned(), bay.uuid.to_string()),
        (
            PROJECT_LABEL.to_owned(),
            project_label_value(&bay.project_id),
        ),
        (MANAGED_BY_LABEL.to_owned(), "magnum".to_owned()),
    ]
    .into()
}

/// What the bay's ServiceAccount may do in its namespace: run workloads. Not included, so a
/// tenant cannot undo them: ResourceQuota, LimitRange, NetworkPolicy, Role and RoleBinding.
fn tenant_rules() -> Vec<PolicyRule> {
    let all = [
        "get",
        "list",
        "watch",
        "create",
        "update",
        "patch",
        "delete",
        "deletecollection",
    ];
    let rule = |group: &str, resources: &[&str]| PolicyRule {
        api_groups: Some(vec![group.to_owned()]),
        resources: Some(resources.iter().map(|r| (*r).to_owned()).collect()),
        verbs: all.iter().map(|v| (*v).to_owned()).collect(),
        ..PolicyRule::default()
    };
    vec![
        rule(
            "",
            &[
                "pods",
                "pods/log",
                "pods/exec",
                "pods/attach",
                "pods/portforward",
                "services",
                "endpoints",
                "replicationcontrollers",
                "replicationcontrollers/scale",
                "configmaps",
                "secrets",
                "persistentvolumeclaims",
                "serviceaccounts",
                "events",
            ],
        ),
        rule(
            "apps",
            &[
                "deployments",
                "deployments/scale",
                "replicasets",
                "replicasets/scale",
                "statefulsets",
                "statefulsets/scale",
                "daemonsets",
            ],
        ),
        rule("batch", &["jobs", "cronjobs"]),
        rule("networking.k8s.io", &["ingresses"]),
    ]
}

fn label<'a>(bay: &'a BayTarget, key: &str, default: &'a str) -> &'a str {
    bay.labels.get(key).map_or(default, |v| v.trim())
}

/// A resource quantity label (`500m`, `2`, `1.5Gi`, `1e3`), non-negative.
fn quantity(bay: &BayTarget, key: &str, default: &str) -> Result<Quantity, DriverError> {
    let value = label(bay, key, default);
    if is_quantity(value) {
        Ok(Quantity(value.to_owned()))
    } else {
        Err(DriverError::Refused(format!(
            "Invalid label {key}={value}: expected a Kubernetes quantity such as 500m, 2, 512Mi \
             or 4Gi."
        )))
    }
}

/// An object-count label: a non-negative integer.
fn count(bay: &BayTarget, key: &str, default: &str) -> Result<Quantity, DriverError> {
    let value = label(bay, key, default);
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        Ok(Quantity(value.to_owned()))
    } else {
        Err(DriverError::Refused(format!(
            "Invalid label {key}={value}: expected a non-negative integer."
        )))
    }
}

/// The syntax of `k8s.io/apimachinery/pkg/api/resource.Quantity`, without a sign.
fn is_quantity(text: &str) -> bool {
    let number_end = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, suffix) = text.split_at(number_end);
    let digits = number.replace('.', "");
    let number_ok = !digits.is_empty() && number.matches('.').count() <= 1;
    let suffix_ok = matches!(
        suffix,
        "" | "n"
            | "u"
            | "m"
            | "k"
            | "M"
            | "G"
            | "T"
            | "P"
            | "E"
            | "Ki"
            | "Mi"
            | "Gi"
            | "Ti"
            | "Pi"
            | "Ei"
    ) || suffix
        .strip_prefix(['e', 'E'])
        .map(|exp| exp.strip_prefix(['+', '-']).unwrap_or(exp))
        .is_some_and(|exp| !exp.is_empty() && exp.bytes().all(|b| b.is_ascii_digit()));
    number_ok && suffix_ok
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn bay(labels: &[(&str, &str)]) -> BayTarget {
        BayTarget {
            uuid: Uuid::from_u128(7),
            project_id: "4f0a1c6b9d7e4c53a1b2c3d4e5f60718".into(),
            name: "b".into(),
            node_count: 1,
            labels: labels
                .iter()
                .map(|(k, v)| ((*k).into(), (*v).into()))
                .collect(),
            nodes_to_remove: vec![],
            groups: vec![],
        }
    }

    #[test]
    fn quantities_follow_the_kubernetes_syntax() {
        for ok in [
            "1", "500m", "1.5", "0.5Gi", "512Mi", "2k", "1e3", "1E+3", ".5",
        ] {
            assert!(is_quantity(ok), "{ok}");
        }
        for bad in ["", "-1", "1.2.3", "12 Gi", "1gb", "Gi", "1e", "lots"] {
            assert!(!is_quantity(bad), "{bad}");
        }
    }

    #[test]
    fn labels_set_quota_and_limits_with_defaults() {
        let objects = BayObjects::new(&bay(&[("quota_pods", "7"), ("default_cpu", "250m")]))
            .expect("valid labels");
        let hard = objects.quota.spec.unwrap().hard.unwrap();
        assert_eq!(hard["pods"].0, "7");
        assert_eq!(hard["limits.memory"].0, "32Gi");
        let item = &objects.limits.spec.unwrap().limits[0];
        assert_eq!(item.default_request.as_ref().unwrap()["cpu"].0, "250m");
        assert_eq!(item.default.as_ref().unwrap()["memory"].0, "512Mi");
        let ns = objects.namespace.metadata;
        assert_eq!(
            ns.name.as_deref(),
            Some("magnum-00000000-0000-0000-0000-000000000007")
        );
        let ns_labels = ns.labels.unwrap();
        assert_eq!(ns_labels[BAY_LABEL], "00000000-0000-0000-0000-000000000007");
        assert_eq!(ns_labels[POD_SECURITY_LABEL], "baseline");
        assert_eq!(hard["services.nodeports"].0, "0");
        assert_eq!(hard["services.loadbalancers"].0, "0");
    }

    #[test]
    fn invalid_labels_are_refused_before_anything_is_sent() {
        let err = BayObjects::new(&bay(&[("quota_memory", "lots")])).unwrap_err();
        assert_eq!(
            err,
            DriverError::Refused(
                "Invalid label quota_memory=lots: expected a Kubernetes quantity such as 500m, \
                 2, 512Mi or 4Gi."
                    .into()
            )
        );
        assert!(BayObjects::new(&bay(&[("quota_pods", "1.5")])).is_err());
    }

    #[test]
    fn the_tenant_role_cannot_touch_isolation_or_quota() {
        let resources: Vec<String> = tenant_rules()
            .into_iter()
            .flat_map(|r| r.resources.unwrap_or_default())
            .collect();
        assert!(resources.iter().any(|r| r == "pods"));
        for guarded in [
            "networkpolicies",
            "resourcequotas",
            "limitranges",
            "roles",
            "rolebindings",
        ] {
            assert!(!resources.iter().any(|r| r == guarded), "{guarded}");
        }
    }
}
