//! Containers on the hosts of a swarm bay (`/v1/containers`, rest-api §3.5): create without
//! starting, the start/stop/pause/unpause/restart actions, status read back from the Engine, and
//! logs and exec output bounded by `[docker] max_log_bytes`.
//!
//! A container is found by its [`CONTAINER_LABEL`], never by name, so every call is idempotent
//! and touches only objects Magnum made.

use super::engine::{Engine, Fault};
use super::tail::Tail;
use super::{Claim, DockerDriver, read_claim};
use crate::{BAY_LABEL, DriverError, PROJECT_LABEL};
use bollard::Docker;
use bollard::exec::{CreateExecOptions, StartExecOptions, StartExecResults};
use bollard::models::{
    ContainerCreateBody, ContainerState as EngineState, ContainerStateStatusEnum, HostConfig,
};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, CreateImageOptionsBuilder, ListContainersOptionsBuilder,
    LogsOptionsBuilder, RemoveContainerOptionsBuilder, RestartContainerOptionsBuilder,
    StopContainerOptionsBuilder,
};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::pin::pin;
use std::time::Duration;
use uuid::Uuid;

/// Label naming the Magnum container (its uuid) on the Engine container.
pub const CONTAINER_LABEL: &str = "magnum.openstack.org/container";
/// Label holding the container's Magnum name at creation (informational: a later rename is
/// recorded by Magnum only).
pub const NAME_LABEL: &str = "magnum.openstack.org/name";

/// A container to create on a bay's host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerSpec {
    /// The container's uuid: its hostname and [`CONTAINER_LABEL`].
    pub uuid: Uuid,
    /// The container's Magnum name (kept in [`NAME_LABEL`]; the Engine name is `magnum-<uuid>`).
    pub name: String,
    /// Image reference, `repo[:tag]` or `repo@digest`; pulled when absent from the host.
    pub image: String,
    /// Command as argv (no shell); `None` runs the image's default.
    pub command: Option<Vec<String>>,
    /// Memory limit in bytes.
    pub memory: Option<i64>,
    /// Environment variables.
    pub environment: BTreeMap<String, String>,
    /// The bay the container belongs to.
    pub bay_uuid: Uuid,
    /// The owning project.
    pub project_id: String,
}

/// A container's status as Magnum shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ContainerStatus {
    /// Running (also while the Engine restarts it).
    Running,
    /// Created and not started, or exited.
    Stopped,
    /// Paused.
    Paused,
    /// Failed to start, dead, or gone from its host.
    Error,
    /// Its host does not answer.
    Unknown,
}

impl ContainerStatus {
    /// The API spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            ContainerStatus::Running => "Running",
            ContainerStatus::Stopped => "Stopped",
            ContainerStatus::Paused => "Paused",
            ContainerStatus::Error => "Error",
            ContainerStatus::Unknown => "Unknown",
        }
    }
}

/// A container as its Engine reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerState {
    /// The Engine's container id.
    pub id: String,
    /// The status Magnum shows.
    pub status: ContainerStatus,
    /// The Engine's own state word (`created`, `running`, `exited`, …).
    pub engine_state: String,
    /// Why the status is `Error`, when the Engine says.
    pub status_reason: Option<String>,
    /// Exit code of the last run, once it has exited.
    pub exit_code: Option<i64>,
}

/// Maps the Engine's state to Magnum's status (as Magnum's docker conductor did: an error first,
/// then paused, running, else stopped) and a reason.
fn status_of(state: &EngineState) -> (ContainerStatus, Option<String>) {
    let error = state.error.clone().filter(|e| !e.is_empty());
    if let Some(error) = error {
        return (ContainerStatus::Error, Some(error));
    }
    match state.status {
        Some(ContainerStateStatusEnum::DEAD) => (
            ContainerStatus::Error,
            Some("The Docker Engine reports the container dead.".into()),
        ),
        Some(ContainerStateStatusEnum::PAUSED) => (ContainerStatus::Paused, None),
        Some(
            ContainerStateStatusEnum::RUNNING
            | ContainerStateStatusEnum::RESTARTING
            | ContainerStateStatusEnum::STOPPING,
        ) => (ContainerStatus::Running, None),
        Some(
            ContainerStateStatusEnum::CREATED
            | ContainerStateStatusEnum::EXITED
            | ContainerStateStatusEnum::REMOVING,
        ) => (ContainerStatus::Stopped, None),
        Some(ContainerStateStatusEnum::EMPTY) | None => {
            if state.paused == Some(true) {
                (ContainerStatus::Paused, None)
            } else if state.running == Some(true) {
                (ContainerStatus::Running, None)
            } else {
                (ContainerStatus::Unknown, None)
            }
        }
    }
}

/// `repo[:tag]` → (`repo`, `tag`), `latest` when absent (an empty tag would pull every tag);
/// a digest reference is passed whole.
fn pull_reference(image: &str) -> (&str, &str) {
    if image.contains('@') {
        return (image, "");
    }
    let name_start = image.rfind('/').map_or(0, |i| i + 1);
    match image[name_start..].rfind(':') {
        Some(i) => (&image[..name_start + i], &image[name_start + i + 1..]),
        None => (image, "latest"),
    }
}

/// The Engine's id of the container labelled `uuid`, if there is one.
async fn lookup(engine: &Engine, docker: &Docker, uuid: Uuid) -> Result<Option<String>, Fault> {
    let filters = HashMap::from([("label", vec![format!("{CONTAINER_LABEL}={uuid}")])]);
    let options = ListContainersOptionsBuilder::default()
        .all(true)
        .filters(&filters)
        .build();
    let found = engine
        .run("container lookup", docker.list_containers(Some(options)))
        .await?;
    Ok(found.into_iter().find_map(|c| c.id))
}

/// As [`lookup`], a missing container being an error.
async fn require(engine: &Engine, docker: &Docker, uuid: Uuid) -> Result<String, DriverError> {
    lookup(engine, docker, uuid).await?.ok_or_else(|| {
        DriverError::Refused(format!(
            "Container {uuid} does not exist on Docker host {}.",
            engine.url()
        ))
    })
}

/// Pulls `image`, turning any failure into a [`DriverError::Refused`] naming it.
async fn pull(engine: &Engine, docker: &Docker, image: &str) -> Result<(), DriverError> {
    let (from_image, tag) = pull_reference(image);
    let options = CreateImageOptionsBuilder::default()
        .from_image(from_image)
        .tag(tag)
        .build();
    let mut progress = pin!(docker.create_image(Some(options), None, None));
    loop {
        match engine.next("image pull", &mut progress).await {
            Ok(Some(_)) => {}
            Ok(None) => return Ok(()),
            Err(fault) => {
                let why = match fault {
                    Fault::NotFound(message) | Fault::Refused { message, .. } => message,
                    Fault::Driver(e) => e.to_string(),
                };
                return Err(DriverError::Refused(format!(
                    "Image {image} could not be found or pulled: {why}"
                )));
            }
        }
    }
}

impl DockerDriver {
    /// Creates the container on `endpoint` without starting it and returns the Engine's id.
    /// The host must be one the container's bay holds ([`DriverError::Refused`] otherwise).
    ///
    /// Hostname is the uuid; labels name bay, project and container; networking is off
    /// (`network_mode = none`). An absent image is pulled; a failed pull is
    /// [`DriverError::Refused`] `Image <image> could not be found or pulled: …`. A container
    /// already labelled with this uuid is adopted, so a repeated create returns the same id.
    pub async fn create_container(
        &self,
        endpoint: &str,
        spec: &ContainerSpec,
    ) -> Result<String, DriverError> {
        let engine = self.engine(endpoint)?;
        let docker = engine.docker().await?;
        if let Some(id) = lookup(engine, docker, spec.uuid).await? {
            return Ok(id);
        }
        // Tenant isolation: a bay's containers run only on the hosts it holds.
        if !matches!(read_claim(engine, spec.bay_uuid).await?, Claim::Ours(_)) {
            return Err(DriverError::Refused(format!(
                "Docker host {endpoint} is not a host of bay {}.",
                spec.bay_uuid
            )));
        }
        let labels = HashMap::from([
            (BAY_LABEL.to_owned(), spec.bay_uuid.to_string()),
            (PROJECT_LABEL.to_owned(), spec.project_id.clone()),
            (CONTAINER_LABEL.to_owned(), spec.uuid.to_string()),
            (NAME_LABEL.to_owned(), spec.name.clone()),
        ]);
        let body = ContainerCreateBody {
            image: Some(spec.image.clone()),
            cmd: spec.command.clone(),
            hostname: Some(spec.uuid.to_string()),
            env: Some(
                spec.environment
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect(),
            ),
            labels: Some(labels),
            host_config: Some(HostConfig {
                network_mode: Some("none".into()),
                memory: spec.memory,
                ..Default::default()
            }),
            ..Default::default()
        };
        // A fixed Engine name makes a concurrent or repeated create collide instead of doubling.
        let options = CreateContainerOptionsBuilder::default()
            .name(&format!("magnum-{}", spec.uuid))
            .build();
        let create = || {
            engine.run(
                "container creation",
                docker.create_container(Some(options.clone()), body.clone()),
            )
        };
        let created = match create().await {
            Err(Fault::NotFound(_)) => {
                pull(engine, docker, &spec.image).await?;
                create().await
            }
            other => other,
        };
        match created {
            Ok(response) => {
                tracing::info!(container.uuid = %spec.uuid, endpoint, "created container");
                Ok(response.id)
            }
            Err(Fault::NotFound(message)) => Err(DriverError::Refused(format!(
                "Image {} could not be found or pulled: {message}",
                spec.image
            ))),
            Err(fault @ Fault::Refused { .. }) => {
                // Most likely a concurrent create of the same container won the name.
                match lookup(engine, docker, spec.uuid).await? {
                    Some(id) => Ok(id),
                    None => Err(fault.into()),
                }
            }
            Err(fault @ Fault::Driver(_)) => Err(fault.into()),
        }
    }

    /// The container labelled `uuid` on `endpoint`, or `None` when there is none.
    pub async fn find_container(
        &self,
        endpoint: &str,
        uuid: Uuid,
    ) -> Result<Option<ContainerState>, DriverError> {
        let engine = self.engine(endpoint)?;
        let docker = engine.docker().await?;
        let Some(id) = lookup(engine, docker, uuid).await? else {
            return Ok(None);
        };
        let inspected = match engine
            .run("container inspection", docker.inspect_container(&id, None))
            .await
        {
            Ok(inspected) => inspected,
            Err(Fault::NotFound(_)) => return Ok(None), // removed meanwhile
            Err(e) => return Err(e.into()),
        };
        let state = inspected.state.unwrap_or_default();
        let (status, status_reason) = status_of(&state);
        Ok(Some(ContainerState {
            id: inspected.id.unwrap_or(id),
            status,
            engine_state: state.status.map(|s| s.to_string()).unwrap_or_default(),
            status_reason,
            exit_code: state.exit_code.filter(|_| {
                matches!(
                    state.status,
                    Some(ContainerStateStatusEnum::EXITED | ContainerStateStatusEnum::DEAD)
                )
            }),
        }))
    }

    /// Every Magnum container on the Engine at `endpoint`: its uuid ([`CONTAINER_LABEL`]) and
    /// the bay it belongs to ([`crate::BAY_LABEL`]), for the reconciler to find orphans.
    pub async fn magnum_containers(
        &self,
        endpoint: &str,
    ) -> Result<Vec<(Uuid, Uuid)>, DriverError> {
        let engine = self.engine(endpoint)?;
        let docker = engine.docker().await?;
        let filters = HashMap::from([("label", vec![CONTAINER_LABEL.to_owned()])]);
        let options = ListContainersOptionsBuilder::default()
            .all(true)
            .filters(&filters)
            .build();
        let found = engine
            .run("container list", docker.list_containers(Some(options)))
            .await?;
        Ok(found
            .into_iter()
            .filter_map(|c| {
                let labels = c.labels?;
                let uuid = Uuid::try_parse(labels.get(CONTAINER_LABEL)?).ok()?;
                let bay = Uuid::try_parse(labels.get(crate::BAY_LABEL)?).ok()?;
                Some((uuid, bay))
            })
            .collect())
    }

    /// The container's status: [`ContainerStatus::Unknown`] when its host does not answer (or is
    /// not configured), [`ContainerStatus::Error`] when the host answers without it.
    pub async fn status(&self, endpoint: &str, uuid: Uuid) -> ContainerStatus {
        match self.find_container(endpoint, uuid).await {
            Ok(Some(state)) => state.status,
            Ok(None) => ContainerStatus::Error,
            Err(e) => {
                tracing::debug!(container.uuid = %uuid, endpoint, error = %e, "container status unknown");
                ContainerStatus::Unknown
            }
        }
    }

    /// Starts the container; already running is success.
    pub async fn start(&self, endpoint: &str, uuid: Uuid) -> Result<(), DriverError> {
        let engine = self.engine(endpoint)?;
        let docker = engine.docker().await?;
        let id = require(engine, docker, uuid).await?;
        // The Engine answers 304 for a running container, which bollard counts as success.
        Ok(engine
            .run("container start", docker.start_container(&id, None))
            .await?)
    }

    /// Stops the container, killing it after `grace`; already stopped is success.
    pub async fn stop(
        &self,
        endpoint: &str,
        uuid: Uuid,
        grace: Duration,
    ) -> Result<(), DriverError> {
        let engine = self.engine(endpoint)?;
        let docker = engine.docker().await?;
        let id = require(engine, docker, uuid).await?;
        let options = StopContainerOptionsBuilder::default()
            .t(grace_seconds(grace))
            .build();
        Ok(engine
            .run_within(
                "container stop",
                engine.timeout() + grace,
                docker.stop_container(&id, Some(options)),
            )
            .await?)
    }

    /// Restarts the container (Magnum's `reboot`), stopping it with `grace` first; a stopped
    /// container is started.
    pub async fn restart(
        &self,
        endpoint: &str,
        uuid: Uuid,
        grace: Duration,
    ) -> Result<(), DriverError> {
        let engine = self.engine(endpoint)?;
        let docker = engine.docker().await?;
        let id = require(engine, docker, uuid).await?;
        let options = RestartContainerOptionsBuilder::default()
            .t(grace_seconds(grace))
            .build();
        Ok(engine
            .run_within(
                "container restart",
                engine.timeout() + grace,
                docker.restart_container(&id, Some(options)),
            )
            .await?)
    }

    /// Pauses the container; already paused is success, a container that is not running is
    /// [`DriverError::Refused`] with the Engine's message.
    pub async fn pause(&self, endpoint: &str, uuid: Uuid) -> Result<(), DriverError> {
        let engine = self.engine(endpoint)?;
        let docker = engine.docker().await?;
        let id = require(engine, docker, uuid).await?;
        match engine
            .run("container pause", docker.pause_container(&id))
            .await
        {
            Ok(()) => Ok(()),
            Err(fault) => {
                self.unless_in(endpoint, uuid, ContainerStatus::Paused, fault)
                    .await
            }
        }
    }

    /// Unpauses the container; running and not paused is success, a stopped container is
    /// [`DriverError::Refused`] with the Engine's message.
    pub async fn unpause(&self, endpoint: &str, uuid: Uuid) -> Result<(), DriverError> {
        let engine = self.engine(endpoint)?;
        let docker = engine.docker().await?;
        let id = require(engine, docker, uuid).await?;
        match engine
            .run("container unpause", docker.unpause_container(&id))
            .await
        {
            Ok(()) => Ok(()),
            Err(fault) => {
                self.unless_in(endpoint, uuid, ContainerStatus::Running, fault)
                    .await
            }
        }
    }

    /// Success when the Engine refused an action because the container already is in the state
    /// the action leads to; the refusal otherwise.
    async fn unless_in(
        &self,
        endpoint: &str,
        uuid: Uuid,
        wanted: ContainerStatus,
        fault: Fault,
    ) -> Result<(), DriverError> {
        if matches!(fault, Fault::Refused { .. })
            && let Ok(Some(state)) = self.find_container(endpoint, uuid).await
            && state.status == wanted
        {
            return Ok(());
        }
        Err(fault.into())
    }

    /// Removes the container, `force` killing a running one first; already gone is success.
    pub async fn remove(&self, endpoint: &str, uuid: Uuid, force: bool) -> Result<(), DriverError> {
        let engine = self.engine(endpoint)?;
        let docker = engine.docker().await?;
        let Some(id) = lookup(engine, docker, uuid).await? else {
            return Ok(());
        };
        let options = RemoveContainerOptionsBuilder::default()
            .force(force)
            .v(true)
            .build();
        match engine
            .run(
                "container removal",
                docker.remove_container(&id, Some(options)),
            )
            .await
        {
            Ok(()) | Err(Fault::NotFound(_)) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// The container's stdout and stderr as interleaved by the Engine (the last `tail` lines, or
    /// all), keeping only the last `[docker] max_log_bytes` bytes: the log is streamed through a
    /// ring, never held whole.
    pub async fn logs(
        &self,
        endpoint: &str,
        uuid: Uuid,
        tail: Option<u64>,
    ) -> Result<String, DriverError> {
        let engine = self.engine(endpoint)?;
        let docker = engine.docker().await?;
        let id = require(engine, docker, uuid).await?;
        let lines = tail.map_or_else(|| "all".to_owned(), |n| n.to_string());
        let options = LogsOptionsBuilder::default()
            .stdout(true)
            .stderr(true)
            .follow(false)
            .tail(&lines)
            .build();
        let mut stream = pin!(docker.logs(&id, Some(options)));
        let mut kept = Tail::new(self.inner.max_log_bytes);
        while let Some(chunk) = engine.next("container logs", &mut stream).await? {
            kept.push(chunk.as_ref());
        }
        Ok(kept.into_string())
    }

    /// Runs `argv` in the running container (no TTY, no shell) and returns its stdout and stderr,
    /// bounded as [`DockerDriver::logs`], with its exit code. The whole run is bounded by
    /// `[docker] api_timeout`. A container that is not running is [`DriverError::Refused`].
    pub async fn exec(
        &self,
        endpoint: &str,
        uuid: Uuid,
        argv: &[String],
    ) -> Result<(String, i64), DriverError> {
        let engine = self.engine(endpoint)?;
        let docker = engine.docker().await?;
        let id = require(engine, docker, uuid).await?;
        let config = CreateExecOptions::<String> {
            cmd: Some(argv.to_vec()),
            attach_stdout: Some(true),
            attach_stderr: Some(true),
            tty: Some(false),
            ..Default::default()
        };
        let exec = engine
            .run("exec creation", docker.create_exec(&id, config))
            .await?;
        let max = self.inner.max_log_bytes;
        let run = async {
            let mut kept = Tail::new(max);
            let start = StartExecOptions {
                detach: false,
                tty: false,
                output_capacity: None,
            };
            if let StartExecResults::Attached { mut output, .. } =
                docker.start_exec(&exec.id, Some(start)).await?
            {
                while let Some(chunk) = futures_util::StreamExt::next(&mut output).await {
                    kept.push(chunk?.as_ref());
                }
            }
            // The output ends as the process exits; the Engine records the code just after.
            loop {
                let inspected = docker.inspect_exec(&exec.id).await?;
                if inspected.running != Some(true) {
                    return Ok((kept.into_string(), inspected.exit_code.unwrap_or(-1)));
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        };
        Ok(engine.run("exec", run).await?)
    }
}

/// A grace period as the Engine's whole seconds.
fn grace_seconds(grace: Duration) -> i32 {
    i32::try_from(grace.as_secs()).unwrap_or(i32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_references_pull_one_tag() {
        assert_eq!(pull_reference("busybox"), ("busybox", "latest"));
        assert_eq!(pull_reference("busybox:1.36"), ("busybox", "1.36"));
        assert_eq!(
            pull_reference("registry:5000/team/app"),
            ("registry:5000/team/app", "latest")
        );
        assert_eq!(
            pull_reference("registry:5000/team/app:v2"),
            ("registry:5000/team/app", "v2")
        );
        assert_eq!(pull_reference("app@sha256:0123"), ("app@sha256:0123", ""));
    }

    #[test]
    fn engine_states_map_to_magnum_statuses() {
        let with = |status, error: &str| EngineState {
            status: Some(status),
            error: Some(error.to_owned()),
            ..Default::default()
        };
        use ContainerStateStatusEnum as S;
        assert_eq!(status_of(&with(S::CREATED, "")).0, ContainerStatus::Stopped);
        assert_eq!(status_of(&with(S::EXITED, "")).0, ContainerStatus::Stopped);
        assert_eq!(status_of(&with(S::RUNNING, "")).0, ContainerStatus::Running);
        assert_eq!(
            status_of(&with(S::RESTARTING, "")).0,
            ContainerStatus::Running
        );
        assert_eq!(status_of(&with(S::PAUSED, "")).0, ContainerStatus::Paused);
        assert_eq!(status_of(&with(S::DEAD, "")).0, ContainerStatus::Error);
        assert_eq!(
            status_of(&with(S::CREATED, "exec: \"nope\": not found")),
            (
                ContainerStatus::Error,
                Some("exec: \"nope\": not found".to_owned())
            )
        );
        assert_eq!(
            status_of(&EngineState::default()).0,
            ContainerStatus::Unknown
        );
        assert_eq!(ContainerStatus::Paused.as_str(), "Paused");
    }
}
