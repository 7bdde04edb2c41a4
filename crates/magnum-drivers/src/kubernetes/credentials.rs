//! Credentials of a bay's users on the cluster (spec/rest-api.md §4.4, §4.7; specs/0002).
//!
//! Client certificates are signed by the operator's client CA with the subject
//! [`BayIdentity`](crate::credentials::BayIdentity): user `magnum:bay:<uuid>:<user>` in group
//! `magnum:bay:<uuid>:g<generation>`. RoleBinding [`CERTIFICATES_BINDING`] in the bay's namespace
//! grants that one group the bay's Role, so a certificate reaches the bay's namespace and nothing
//! else. Rotation moves the binding to the next generation's group: every certificate issued
//! before loses its rights at once, which is the only revocation Kubernetes offers for client
//! certificates.

use super::objects::bay_labels;
use super::{ACCOUNT_NAME, FIELD_MANAGER, KubernetesDriver, namespace};
use crate::credentials::{ClientCa, bay_group};
use crate::{BayTarget, DriverError};
use k8s_openapi::api::core::v1::ServiceAccount;
use k8s_openapi::api::rbac::v1::{RoleBinding, RoleRef, Subject};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, DeleteParams, Patch, PatchParams};

/// Name of the RoleBinding that gives the bay's certificate group the bay's Role.
pub const CERTIFICATES_BINDING: &str = "magnum-bay-certificates";

impl KubernetesDriver {
    /// The CA certificates (PEM) the cluster's API server is verified with: what a tenant's
    /// kubeconfig must trust. From the conductor's kubeconfig (or in-cluster CA).
    pub fn cluster_ca_pem(&self) -> Result<&str, DriverError> {
        self.cluster_ca.as_deref().ok_or_else(|| {
            DriverError::NotConfigured(
                "The conductor's kubeconfig names no certificate authority for the cluster \
                 (certificate-authority or certificate-authority-data), so there is no CA \
                 to give to the bay's users."
                    .into(),
            )
        })
    }

    /// The CA that signs bay users' client certificates.
    pub fn client_ca(&self) -> Result<&ClientCa, DriverError> {
        self.client_ca.as_deref().ok_or_else(|| {
            DriverError::NotConfigured(
                "This Magnum does not sign client certificates for kubernetes bays: \
                 [kubernetes] client_ca_cert and client_ca_key are not set."
                    .into(),
            )
        })
    }

    /// Grants the certificates of credential `generation` (and only those) the bay's Role.
    /// Idempotent; moving to a new generation takes the rights from the previous one.
    pub async fn bind_certificates(
        &self,
        bay: &BayTarget,
        generation: i32,
    ) -> Result<(), DriverError> {
        let ns = namespace(&bay.uuid);
        let binding = RoleBinding {
            metadata: ObjectMeta {
                name: Some(CERTIFICATES_BINDING.to_owned()),
                namespace: Some(ns.clone()),
                labels: Some(bay_labels(bay)),
                ..ObjectMeta::default()
            },
            role_ref: RoleRef {
                api_group: "rbac.authorization.k8s.io".into(),
                kind: "Role".into(),
                name: ACCOUNT_NAME.into(),
            },
            subjects: Some(vec![Subject {
                kind: "Group".into(),
                name: bay_group(bay.uuid, generation),
                api_group: Some("rbac.authorization.k8s.io".into()),
                namespace: None,
            }]),
        };
        let api = Api::<RoleBinding>::namespaced(self.client.clone(), &ns);
        self.apply(&api, CERTIFICATES_BINDING, &binding).await
    }

    /// Replaces the bay's ServiceAccount, so every token issued for the old one stops working.
    pub async fn renew_service_account(&self, bay: &BayTarget) -> Result<(), DriverError> {
        let ns = namespace(&bay.uuid);
        let api = Api::<ServiceAccount>::namespaced(self.client.clone(), &ns);
        let what = format!("delete ServiceAccount {ns}/{ACCOUNT_NAME}");
        match self
            .call(&what, api.delete(ACCOUNT_NAME, &DeleteParams::default()))
            .await
        {
            Ok(_) => {}
            Err(f) if f.code() == Some(404) => {}
            Err(f) => return Err(f.into_driver(&what)),
        }
        let account = ServiceAccount {
            metadata: ObjectMeta {
                name: Some(ACCOUNT_NAME.to_owned()),
                namespace: Some(ns.clone()),
                labels: Some(bay_labels(bay)),
                ..ObjectMeta::default()
            },
            ..ServiceAccount::default()
        };
        let what = format!("create ServiceAccount {ns}/{ACCOUNT_NAME}");
        let params = PatchParams::apply(FIELD_MANAGER).force();
        self.call(
            &what,
            api.patch(ACCOUNT_NAME, &params, &Patch::Apply(&account)),
        )
        .await
        .map(drop)
        .map_err(|f| f.into_driver(&what))
    }
}
