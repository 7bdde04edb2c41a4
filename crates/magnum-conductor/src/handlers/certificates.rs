//! Bay certificates and credential rotation (spec/rpc.md §7.3, spec/rest-api.md §4.4, §4.7,
//! specs/0002).
//!
//! Kubernetes bays bind the signed identity in the cluster; docker bays are served by the Docker
//! client proxy (specs/0005), which checks it on every call.
//!
//! Signing, and both rotations, run under the bay's credential lock, so a signature always names
//! the generation the cluster binds at that moment and a rotation cannot be undone by a signature
//! racing it.

use super::bays;
use crate::Conductor;
use crate::converge::target;
use crate::dispatch::storage;
use magnum_core::bay::{Bay, BayStatus};
use magnum_core::baymodel::{BayModel, Coe};
use magnum_core::certificate::{self, Certificate};
use magnum_db::{Scope, baymodels};
use magnum_drivers::DriverError;
use magnum_drivers::credentials::{BayIdentity, ClientCa};
use magnum_drivers::docker::ClientAccess;
use magnum_drivers::kubernetes::KubernetesDriver;
use magnum_rpc::certificates::{CertificateCall, Rotation};
use magnum_rpc::methods::Lookup;
use magnum_rpc::{Primitive, RemoteFailure, RequestContext};
use serde_json::Value;
use sqlx::{Postgres, Transaction};
use uuid::Uuid;

/// Serves one certificate call.
pub(crate) async fn serve(
    c: &Conductor,
    ctx: &RequestContext,
    call: CertificateCall,
) -> Result<Value, RemoteFailure> {
    match call {
        CertificateCall::GetCa { bay, ca_cert_type } => {
            get_ca(c, ctx, bay, ca_cert_type.as_deref()).await
        }
        CertificateCall::Sign { bay, certificate } => sign(c, ctx, bay, certificate).await,
        CertificateCall::Rotate { bay, rotation } => rotate(c, ctx, bay, rotation).await,
    }
}

/// Who certifies a bay's users: the kubernetes driver (its cluster binds the identity), or the
/// Docker client proxy (it checks the identity on every call, specs/0005).
#[derive(Clone, Copy)]
enum Issuer<'c> {
    Kubernetes(&'c KubernetesDriver),
    Docker(&'c ClientAccess),
}

impl<'c> Issuer<'c> {
    fn client_ca(self) -> Result<&'c ClientCa, RemoteFailure> {
        match self {
            Issuer::Kubernetes(driver) => driver.client_ca().map_err(driver_failure),
            Issuer::Docker(access) => Ok(&access.client_ca),
        }
    }
}

/// The bay and who certifies its users; TLS off, another COE, or a docker bay without the
/// client proxy is `NotSupported`.
async fn tls_bay<'c>(
    c: &'c Conductor,
    ctx: &RequestContext,
    uuid: Uuid,
) -> Result<(Bay, Issuer<'c>), RemoteFailure> {
    let bay = bays::load(c, ctx, &Lookup::Uuid(uuid)).await?;
    let model = baymodel(c, &bay).await?;
    if model.tls_disabled {
        return Err(not_supported(format!(
            "TLS is disabled for bay {}: it has no certificates.",
            bay.name
        )));
    }
    match model.coe {
        Coe::Kubernetes => {}
        Coe::Swarm => {
            let access = c.backends.docker_access().ok_or_else(|| {
                not_supported(format!(
                    "Bay {} is a docker bay: its Docker Engines are shared with other bays, so                      its users get certificates only through Magnum's Docker client proxy,                      which is off on this conductor ([docker] client_proxy_listen is not set).",
                    bay.name
                ))
            })?;
            return Ok((bay, Issuer::Docker(access)));
        }
        other @ Coe::Mesos => {
            return Err(not_supported(format!(
                "Bays of COE {other} have no certificates."
            )));
        }
    }
    let driver = c.backends.kubernetes().ok_or_else(|| {
        RemoteFailure::invalid("The kubernetes driver is not configured on this conductor.")
    })?;
    Ok((bay, Issuer::Kubernetes(driver)))
}

async fn baymodel(c: &Conductor, bay: &Bay) -> Result<BayModel, RemoteFailure> {
    let mut conn = c.pool.acquire().await.map_err(storage)?;
    baymodels::find(
        &mut conn,
        &Scope::all(),
        baymodels::Key::Uuid(bay.baymodel_id),
    )
    .await
    .map_err(storage)?
    .pop()
    .ok_or_else(|| RemoteFailure::invalid(format!("The baymodel of bay {} is gone.", bay.name)))
}

fn not_supported(message: String) -> RemoteFailure {
    RemoteFailure::typed("NotSupported", 400, message)
}

fn driver_failure(e: DriverError) -> RemoteFailure {
    match e {
        DriverError::Unreachable(message) => RemoteFailure::unavailable(message),
        DriverError::NotConfigured(message) => not_supported(message),
        other => RemoteFailure::typed(
            "KubernetesAPIFailed",
            500,
            format!("Kubernetes refused the request: {other}"),
        ),
    }
}

fn reply(certificate: Certificate) -> Value {
    Primitive::new(certificate).to_value()
}

/// `get_ca_certificate`: the CA the cluster's API server is verified with.
async fn get_ca(
    c: &Conductor,
    ctx: &RequestContext,
    uuid: Uuid,
    ca_cert_type: Option<&str>,
) -> Result<Value, RemoteFailure> {
    certificate::check_ca_cert_type(ca_cert_type)
        .map_err(|e| RemoteFailure::invalid(e.to_string()))?;
    let (bay, issuer) = tls_bay(c, ctx, uuid).await?;
    let pem = match issuer {
        Issuer::Kubernetes(driver) => driver.cluster_ca_pem().map_err(driver_failure)?,
        Issuer::Docker(access) => access.served_ca_pem.as_str(),
    };
    Ok(reply(Certificate {
        project_id: bay.project_id,
        user_id: bay.user_id,
        bay_uuid: bay.uuid,
        csr: None,
        pem: Some(pem.to_owned()),
        ca_cert_type: ca_cert_type.map(str::to_owned),
    }))
}

/// Takes the bay's credential lock (queued, not refused) in a fresh transaction and reads the
/// bay's credential generation under it.
async fn credential_lock(
    c: &Conductor,
    bay: &Bay,
) -> Result<(Transaction<'static, Postgres>, i32), RemoteFailure> {
    let mut tx = c.pool.begin().await.map_err(storage)?;
    let key = Uuid::new_v5(&bay.uuid, b"credentials");
    magnum_db::locks::lock(&mut tx, key)
        .await
        .map_err(storage)?;
    let generation = magnum_db::bays::credential_generation(&mut tx, bay.uuid)
        .await
        .map_err(storage)?
        .ok_or_else(|| RemoteFailure::not_found("Bay", &bay.uuid.to_string()))?;
    Ok((tx, generation))
}

/// `sign_certificate`: the request's key, certified as the caller inside this bay only.
async fn sign(
    c: &Conductor,
    ctx: &RequestContext,
    uuid: Uuid,
    request: Certificate,
) -> Result<Value, RemoteFailure> {
    certificate::check_ca_cert_type(request.ca_cert_type.as_deref())
        .map_err(|e| RemoteFailure::invalid(e.to_string()))?;
    let (bay, issuer) = tls_bay(c, ctx, uuid).await?;
    if !matches!(
        bay.status,
        BayStatus::CreateComplete | BayStatus::UpdateComplete
    ) {
        return Err(RemoteFailure::invalid(format!(
            "Bay {} is {}: certificates are signed for bays in CREATE_COMPLETE or \
             UPDATE_COMPLETE.",
            bay.name, bay.status
        )));
    }
    let csr = request.csr.as_deref().unwrap_or_default();
    let ca = issuer.client_ca()?;
    let user = ctx
        .user_id
        .clone()
        .unwrap_or_else(|| request.user_id.clone());
    let (mut tx, generation) = credential_lock(c, &bay).await?;
    let pem = ca
        .sign(csr, &BayIdentity::new(bay.uuid, &user, generation))
        .map_err(|e| RemoteFailure::typed("CertificateValidationError", 400, e.0))?;
    if let Issuer::Kubernetes(driver) = issuer {
        let bay_target = target(&mut tx, &bay, Vec::new()).await.map_err(storage)?;
        driver
            .bind_certificates(&bay_target, generation)
            .await
            .map_err(driver_failure)?;
    }
    tx.commit().await.map_err(storage)?;
    tracing::info!(bay.uuid = %bay.uuid, user = %user, generation, "signed a bay client certificate");
    Ok(reply(Certificate {
        project_id: request.project_id,
        user_id: user,
        bay_uuid: bay.uuid,
        csr: request.csr,
        pem: Some(pem),
        ca_cert_type: request.ca_cert_type,
    }))
}

/// `rotate_ca_certificate` and `credential_rotate`: the bay's rights move to the next credential
/// generation (certificates issued so far stop working); `credential_rotate` also replaces the
/// bay's ServiceAccount. The cluster changes first, then the generation is recorded.
async fn rotate(
    c: &Conductor,
    ctx: &RequestContext,
    uuid: Uuid,
    rotation: Rotation,
) -> Result<Value, RemoteFailure> {
    let (bay, issuer) = tls_bay(c, ctx, uuid).await?;
    if !bay.status.has_usable_credentials() {
        return Err(RemoteFailure::invalid(format!(
            "Bay {} is {}: its credentials cannot be rotated now.",
            bay.name, bay.status
        )));
    }
    let (mut tx, generation) = credential_lock(c, &bay).await?;
    let next = generation
        .checked_add(1)
        .ok_or_else(|| RemoteFailure::invalid("The bay's credentials were rotated too often."))?;
    // The Docker proxy reads the generation on every call: recording it is the rotation.
    if let Issuer::Kubernetes(driver) = issuer {
        let bay_target = target(&mut tx, &bay, Vec::new()).await.map_err(storage)?;
        driver
            .bind_certificates(&bay_target, next)
            .await
            .map_err(driver_failure)?;
        if rotation == Rotation::Credentials {
            driver
                .renew_service_account(&bay_target)
                .await
                .map_err(driver_failure)?;
        }
    }
    // Under the lock nobody else moves the generation, so this compare-and-set holds.
    if !magnum_db::bays::advance_credential_generation(&mut tx, bay.uuid, generation)
        .await
        .map_err(storage)?
    {
        return Err(RemoteFailure::conflict(format!(
            "The credentials of bay {} changed meanwhile; try again.",
            bay.name
        )));
    }
    tx.commit().await.map_err(storage)?;
    tracing::info!(bay.uuid = %bay.uuid, method = rotation.method(), generation = next, "rotated bay credentials");
    Ok(Value::Null)
}
