//! The scenarios and the run that strings them together: services, build, stack, seed, load,
//! table.

use crate::cpu;
use crate::load::{self, Conn, Operation};
use crate::report::{self, Fact, Row};
use crate::stack::{self, Stack};
use crate::{Cli, Scenario};
use anyhow::{Context as _, bail};
use bollard::Docker;
use bollard::models::{ContainerCreateBody, HostConfig};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, InspectContainerOptions, ListContainersOptionsBuilder,
    RemoveContainerOptionsBuilder, StartContainerOptions,
};
use hyper::Method;
use magnum_rpc::methods::PingConductor;
use magnum_rpc::{RequestContext, RpcClient, TransportOptions};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::io::Write as _;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

const TEST_IMAGE: &str = "magnum-test/busybox:latest";

/// Runs the whole benchmark and prints the table.
pub(crate) async fn run(cli: Cli) -> anyhow::Result<()> {
    let scenarios = cli.scenarios();
    let with_docker = scenarios.contains(&Scenario::Container);
    let started_docker = stack::ensure_services(with_docker).await?;
    let result = Box::pin(run_with_services(&cli, &scenarios)).await;
    if started_docker {
        stack::stop_private_docker();
    }
    let (rows, facts) = result?;
    let table = report::render(&rows, &facts);
    std::io::stdout().write_all(table.as_bytes())?;
    Ok(())
}

async fn run_with_services(
    cli: &Cli,
    scenarios: &[Scenario],
) -> anyhow::Result<(Vec<Row>, Vec<Fact>)> {
    if !cli.skip_build {
        stack::build_release().await?;
    }
    let bins = stack::bin_dir(cli.bin_dir.as_deref())?;
    eprintln!(
        "==> starting magnum-conductor and magnum-api from {}",
        bins.display()
    );
    let stack = Stack::start(&bins, cli.extra_config.as_deref().unwrap_or_default()).await?;
    wait_for_conductor(&stack).await?;
    let mut rows = Vec::new();
    let mut facts = Vec::new();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let idle_api = stack::rss_mib(stack.api_pid());
    let idle_conductor = stack::rss_mib(stack.conductor_pid());
    eprintln!("==> seeding {} baymodels", cli.baymodels);
    let baymodels = seed_baymodels(&stack, cli.baymodels).await?;
    let mut peak = (0.0f64, 0.0f64);
    for scenario in scenarios {
        eprintln!("==> scenario {scenario:?}");
        // Seeded before the CPU snapshot, so the split counts only the load.
        let bay_markers = if *scenario == Scenario::BayList {
            eprintln!("==> inserting {} bays", cli.bays);
            seed_bays(&stack, &baymodels, cli.bays).await?
        } else {
            Vec::new()
        };
        let sampler = Sampler::start(&stack);
        let cpu_before = cpu::Snapshot::take(stack.api_pid(), stack.conductor_pid());
        let mut produced = match scenario {
            Scenario::Version => {
                vec![http_scenario(cli, &stack, "GET /", get_op(|_, _| "/".into())).await?]
            }
            Scenario::List => {
                let name = format!("GET /v1/baymodels ({} objects)", baymodels.len());
                vec![
                    http_scenario(cli, &stack, &name, get_op(|_, _| "/v1/baymodels".into()))
                        .await?,
                ]
            }
            Scenario::Show => {
                let uuids = Arc::new(baymodels.clone());
                let op = get_op(move |w, n| {
                    format!(
                        "/v1/baymodels/{}",
                        uuids[(w * 7 + n as usize) % uuids.len()]
                    )
                });
                vec![http_scenario(cli, &stack, "GET /v1/baymodels/<uuid>", op).await?]
            }
            Scenario::CreateDelete => {
                vec![
                    http_scenario(
                        cli,
                        &stack,
                        "POST+DELETE /v1/baymodels (pairs)",
                        create_delete_op(),
                    )
                    .await?,
                ]
            }
            Scenario::BayList => {
                let markers = Arc::new(bay_markers);
                let op = get_op(move |w, n| {
                    let i =
                        (w.wrapping_mul(7919) + (n as usize).wrapping_mul(104_729)) % markers.len();
                    format!("/v1/bays?limit=100&marker={}", markers[i])
                });
                let name = format!("GET /v1/bays?limit=100&marker= ({} bays)", cli.bays);
                vec![http_scenario(cli, &stack, &name, op).await?]
            }
            Scenario::Rpc => vec![rpc_scenario(cli, &stack).await?],
            Scenario::Container => {
                let (rows, ratio) = Box::pin(container_scenario(cli, &stack)).await?;
                facts.push(Fact {
                    label: "container create→Running, API p50 / Docker p50".into(),
                    value: format!("{ratio:.2}×"),
                });
                rows
            }
        };
        let cpu_after = cpu::Snapshot::take(stack.api_pid(), stack.conductor_pid());
        let (api, conductor) = sampler.stop();
        peak = (peak.0.max(api), peak.1.max(conductor));
        // The container scenario is two sequential runs with pauses: no steady rate to divide by.
        let steady = *scenario != Scenario::Container;
        for row in &mut produced {
            row.api_rss_mib = Some(api);
            row.conductor_rss_mib = Some(conductor);
            row.cpu = steady.then(|| cpu_before.split(&cpu_after, row.per_sec));
            eprintln!(
                "    {}: {:.1}/s p50 {:.2} ms p99 {:.2} ms, {} errors",
                row.name, row.per_sec, row.p50_ms, row.p99_ms, row.errors
            );
        }
        rows.extend(produced);
    }
    let show = |v: Option<f64>| v.map_or_else(|| "-".into(), |v| format!("{v:.1} MiB"));
    facts.push(Fact {
        label: "magnum-api RSS idle (before seeding)".into(),
        value: show(idle_api),
    });
    facts.push(Fact {
        label: "magnum-api RSS peak under load".into(),
        value: show(Some(peak.0)),
    });
    facts.push(Fact {
        label: "magnum-api RSS after the run".into(),
        value: show(stack::rss_mib(stack.api_pid())),
    });
    facts.push(Fact {
        label: "magnum-conductor RSS idle (before seeding)".into(),
        value: show(idle_conductor),
    });
    facts.push(Fact {
        label: "magnum-conductor RSS peak under load".into(),
        value: show(Some(peak.1)),
    });
    facts.push(Fact {
        label: "connections / measured s per scenario".into(),
        value: format!("{} / {}", cli.connections, cli.duration),
    });
    if cli.hold {
        eprintln!(
            "==> holding: magnum-api pid {:?} on http://{}, magnum-conductor pid {:?}; Ctrl-C ends",
            stack.api_pid(),
            stack.addr,
            stack.conductor_pid()
        );
        let table = report::render(&rows, &facts);
        std::io::stdout().write_all(table.as_bytes())?;
        tokio::signal::ctrl_c().await?;
    }
    Ok((rows, facts))
}

/// Samples both daemons' RSS every 100 ms; keeps the peaks.
struct Sampler {
    stop: CancellationToken,
    peaks: Arc<Mutex<(f64, f64)>>,
}

impl Sampler {
    fn start(stack: &Stack) -> Sampler {
        let stop = CancellationToken::new();
        let peaks = Arc::new(Mutex::new((0.0f64, 0.0f64)));
        let (api, conductor) = (stack.api_pid(), stack.conductor_pid());
        let (token, shared) = (stop.clone(), Arc::clone(&peaks));
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(Duration::from_millis(100));
            while token.run_until_cancelled(ticks.tick()).await.is_some() {
                let a = stack::rss_mib(api).unwrap_or(0.0);
                let c = stack::rss_mib(conductor).unwrap_or(0.0);
                let mut p = shared.lock().unwrap_or_else(PoisonError::into_inner);
                *p = (p.0.max(a), p.1.max(c));
            }
        });
        Sampler { stop, peaks }
    }

    fn stop(self) -> (f64, f64) {
        self.stop.cancel();
        *self.peaks.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

async fn wait_for_conductor(stack: &Stack) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut conn = Conn::open(stack.addr).await?;
    loop {
        let answer = conn.send(Method::GET, "/v1/baymodels", None).await?;
        if answer.status.as_u16() == 200 {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!(
                "the API did not reach a conductor within 60 s: {}",
                answer.status
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn get_op(path: impl Fn(usize, u64) -> String + Send + Sync + 'static) -> Operation {
    let path = Arc::new(path);
    load::operation(move |worker, n, conn| {
        let path = Arc::clone(&path);
        Box::pin(async move {
            conn.send(Method::GET, &path(worker, n), None)
                .await?
                .expect(200)?;
            Ok(())
        })
    })
}

fn create_delete_op() -> Operation {
    load::operation(|worker, n, conn| {
        Box::pin(async move {
            let body = json!({
                "name": format!("bench-cd-{worker}-{n}"),
                "coe": "kubernetes",
                "image_id": "fedora-coreos",
            });
            let created = conn
                .json(Method::POST, "/v1/baymodels", &body)
                .await?
                .expect(201)?
                .json();
            let uuid = created["uuid"].as_str().context("no uuid in the answer")?;
            conn.send(Method::DELETE, &format!("/v1/baymodels/{uuid}"), None)
                .await?
                .expect(204)?;
            Ok(())
        })
    })
}

async fn http_scenario(cli: &Cli, stack: &Stack, name: &str, op: Operation) -> anyhow::Result<Row> {
    let outcome = load::closed_loop(
        stack.addr,
        cli.connections,
        cli.warmup(),
        cli.measured(),
        &op,
    )
    .await?;
    if let Some(e) = &outcome.first_error {
        eprintln!("    first error of {name}: {e}");
    }
    Ok(Row::from_histogram(
        name,
        &outcome.hist,
        outcome.errors,
        outcome.window,
    ))
}

/// Creates `n` kubernetes baymodels through the API; returns their uuids.
async fn seed_baymodels(stack: &Stack, n: u32) -> anyhow::Result<Vec<String>> {
    let mut conn = Conn::open(stack.addr).await?;
    let mut uuids = Vec::new();
    for i in 0..n {
        let body = json!({
            "name": format!("bench-{i:03}"),
            "coe": "kubernetes",
            "image_id": "fedora-coreos",
            "labels": {"kube_tag": "v1.33.1", "index": i.to_string()},
            "flavor_id": "m1.small",
            "master_flavor_id": "m1.medium",
            "network_driver": "flannel",
            "dns_nameserver": "8.8.8.8",
        });
        let created = conn
            .json(Method::POST, "/v1/baymodels", &body)
            .await?
            .expect(201)?
            .json();
        uuids.push(
            created["uuid"]
                .as_str()
                .context("no uuid in the answer")?
                .to_owned(),
        );
    }
    Ok(uuids)
}

/// Inserts `n` settled bays of the first baymodel (its COE has no driver configured) straight
/// into the scratch database; returns their uuids for paging markers.
async fn seed_bays(stack: &Stack, baymodels: &[String], n: u32) -> anyhow::Result<Vec<String>> {
    let model = baymodels.first().context("no baymodel to make bays of")?;
    stack
        .sql(&format!(
            "INSERT INTO bay (uuid, project_id, user_id, name, baymodel_id, status, node_count, \
             master_count, create_timeout, api_address, node_addresses, master_addresses) \
             SELECT gen_random_uuid(), '{project}', 'bench', 'bench-bay-' || g, '{model}', \
             'CREATE_COMPLETE', 3, 1, 60, 'https://10.0.0.' || (g % 250) || ':6443', \
             '[\"10.0.1.1\", \"10.0.1.2\", \"10.0.1.3\"]', '[\"10.0.0.1\"]' \
             FROM generate_series(1, {n}) g",
            project = load::PROJECT
        ))
        .await?;
    // Planner statistics for the new rows, as autovacuum would take within a minute: without
    // them the first minute measures plans made for an empty table.
    stack.sql("ANALYZE bay").await?;
    // Markers: uuids of bays that have at least 100 after them in the default (id) order.
    let mut conn = Conn::open(stack.addr).await?;
    let mut markers = Vec::new();
    let mut path = "/v1/bays?limit=1000".to_owned();
    loop {
        let page = conn
            .send(Method::GET, &path, None)
            .await?
            .expect(200)?
            .json();
        let bays = page["bays"].as_array().cloned().unwrap_or_default();
        let Some(last) = bays.last().and_then(|b| b["uuid"].as_str()) else {
            break;
        };
        markers.extend(
            bays.iter()
                .filter_map(|b| b["uuid"].as_str().map(str::to_owned)),
        );
        path = format!("/v1/bays?limit=1000&marker={last}");
    }
    if markers.len() < n as usize {
        bail!("listed {} bays, inserted {n}", markers.len());
    }
    markers.truncate(markers.len().saturating_sub(100).max(1));
    Ok(markers)
}

async fn rpc_scenario(cli: &Cli, stack: &Stack) -> anyhow::Result<Row> {
    let mut opts = TransportOptions::new(stack::amqp_url());
    opts.control_exchange.clone_from(&stack.exchange);
    opts.topic.clone_from(&stack.topic);
    opts.rpc_response_timeout = Duration::from_secs(10);
    opts.transient_queues_ttl = Duration::from_secs(300);
    let shutdown = CancellationToken::new();
    let client = RpcClient::start(opts, magnum_rpc::version::RPC_API_VERSION, shutdown.clone());
    if !client.wait_connected(Duration::from_secs(10)).await {
        bail!("the bench's RPC client did not connect to RabbitMQ");
    }
    let ctx = RequestContext {
        request_id: "req-00000000-0000-4000-8000-000000000000".into(),
        project_id: Some(load::PROJECT.into()),
        user_id: Some("bench".into()),
        roles: vec!["member".into()],
        ..RequestContext::default()
    };
    let start = Instant::now();
    let measure_from = start + cli.warmup();
    let deadline = measure_from + cli.measured();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..cli.connections {
        let (client, ctx) = (client.clone(), ctx.clone());
        tasks.spawn(async move {
            let mut hist = load::histogram();
            let mut errors = 0u64;
            loop {
                let began = Instant::now();
                if began >= deadline {
                    break;
                }
                let result = client.call(&ctx, &PingConductor).await;
                let done = Instant::now();
                if began < measure_from || done > deadline {
                    continue;
                }
                match result {
                    Ok(true) => load::record(&mut hist, done - began),
                    _ => errors += 1,
                }
            }
            (hist, errors)
        });
    }
    let mut hist = load::histogram();
    let mut errors = 0;
    while let Some(joined) = tasks.join_next().await {
        let (h, e) = joined?;
        hist.add(&h)?;
        errors += e;
    }
    shutdown.cancel();
    Ok(Row::from_histogram(
        "RPC ping_conductor round trips (AMQP)",
        &hist,
        errors,
        cli.measured(),
    ))
}

/// Takes `container_runs` containers to Running through the API and as many through Docker's
/// API directly (alternating), on the bench's private Engine. Returns both rows and the ratio
/// of the medians.
async fn container_scenario(cli: &Cli, stack: &Stack) -> anyhow::Result<(Vec<Row>, f64)> {
    let docker = Docker::connect_with_unix(stack::DOCKER_SOCK, 60, bollard::API_DEFAULT_VERSION)?;
    clean_engine(&docker).await?;
    let mut conn = Conn::open(stack.addr).await?;
    let model = conn
        .json(
            Method::POST,
            "/v1/baymodels",
            &json!({"name": "bench-swarm", "coe": "swarm", "image_id": "magnum-test/busybox"}),
        )
        .await?
        .expect(201)?
        .json();
    let bay = conn
        .json(
            Method::POST,
            "/v1/bays",
            &json!({"name": "bench-swarm", "baymodel_id": model["uuid"], "node_count": 1}),
        )
        .await?;
    // 201 on /v1/bays (Magnum's bay API), 202 on /v1/clusters.
    let bay = if bay.status.as_u16() == 202 {
        bay.expect(202)?.json()
    } else {
        bay.expect(201)?.json()
    };
    let bay_uuid = bay["uuid"].as_str().context("no bay uuid")?.to_owned();
    poll(
        &mut conn,
        &format!("/v1/bays/{bay_uuid}"),
        "status",
        &["CREATE_COMPLETE"],
        &["CREATE_FAILED"],
        Duration::from_secs(120),
    )
    .await?;
    let mut through_api = load::histogram();
    let mut direct = load::histogram();
    let mut errors = (0u64, 0u64);
    for i in 0..cli.container_runs {
        let began = Instant::now();
        match api_container(&mut conn, &bay_uuid, i).await {
            Ok(()) => load::record(&mut through_api, began.elapsed()),
            Err(e) => {
                errors.0 += 1;
                eprintln!("    container through the API failed: {e:#}");
            }
        }
        let began = Instant::now();
        match docker_container(&docker, i).await {
            Ok(()) => load::record(&mut direct, began.elapsed()),
            Err(e) => {
                errors.1 += 1;
                eprintln!("    container through Docker failed: {e:#}");
            }
        }
    }
    // Release the Engine: delete the bay and wait until it is gone (its claim with it).
    let _ = clean_engine(&docker).await;
    let deleted = conn
        .send(Method::DELETE, &format!("/v1/bays/{bay_uuid}"), None)
        .await?;
    if !deleted.status.is_success() {
        eprintln!("    deleting the swarm bay: {}", deleted.status);
    }
    let gone = Instant::now() + Duration::from_secs(60);
    while Instant::now() < gone {
        let answer = conn
            .send(Method::GET, &format!("/v1/bays/{bay_uuid}"), None)
            .await?;
        if answer.status.as_u16() == 404 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let _ = clean_engine(&docker).await;
    let total = |h: &hdrhistogram::Histogram<u64>| Duration::from_micros(h.mean() as u64 * h.len());
    let api_row = Row::from_histogram(
        "container create→Running via magnum API (sequential)",
        &through_api,
        errors.0,
        total(&through_api),
    );
    let docker_row = Row::from_histogram(
        "container create→Running via Docker API (sequential)",
        &direct,
        errors.1,
        total(&direct),
    );
    let ratio = api_row.p50_ms / docker_row.p50_ms.max(1e-9);
    Ok((vec![api_row, docker_row], ratio))
}

/// POST, wait until created (Stopped), start, wait until Running; then remove (untimed).
async fn api_container(conn: &mut Conn, bay_uuid: &str, i: u32) -> anyhow::Result<()> {
    let body = json!({
        "name": format!("bench-api-{i}"),
        "image": "magnum-test/busybox",
        "command": "sleep 300",
        "bay_uuid": bay_uuid,
    });
    let created = conn
        .json(Method::POST, "/v1/containers", &body)
        .await?
        .expect(201)?
        .json();
    let uuid = created["uuid"]
        .as_str()
        .context("no container uuid")?
        .to_owned();
    let path = format!("/v1/containers/{uuid}");
    poll(
        conn,
        &path,
        "status",
        &["Stopped"],
        &["Error"],
        Duration::from_secs(60),
    )
    .await?;
    conn.send(Method::PUT, &format!("{path}/start"), None)
        .await?
        .expect(200)?;
    poll(
        conn,
        &path,
        "status",
        &["Running"],
        &["Error"],
        Duration::from_secs(60),
    )
    .await?;
    conn.send(Method::DELETE, &format!("{path}?force=true"), None)
        .await?
        .expect(204)?;
    Ok(())
}

/// The same container through Docker's API: create, start, inspect until running; then
/// remove (untimed).
async fn docker_container(docker: &Docker, i: u32) -> anyhow::Result<()> {
    let uuid = uuid::Uuid::new_v4().to_string();
    let body = ContainerCreateBody {
        image: Some(TEST_IMAGE.into()),
        cmd: Some(vec!["sleep".into(), "300".into()]),
        hostname: Some(uuid.clone()),
        env: Some(Vec::new()),
        labels: Some(HashMap::from([
            ("magnum-bench".to_owned(), "direct".to_owned()),
            ("magnum-bench.index".to_owned(), i.to_string()),
        ])),
        host_config: Some(HostConfig {
            network_mode: Some("none".into()),
            ..Default::default()
        }),
        ..Default::default()
    };
    let name = format!("magnum-bench-direct-{uuid}");
    let options = CreateContainerOptionsBuilder::default().name(&name).build();
    let created = docker.create_container(Some(options), body).await?;
    docker
        .start_container(&created.id, None::<StartContainerOptions>)
        .await?;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let state = docker
            .inspect_container(&created.id, None::<InspectContainerOptions>)
            .await?
            .state;
        if state.and_then(|s| s.running) == Some(true) {
            break;
        }
        if Instant::now() > deadline {
            bail!("container {name} did not run within 60 s");
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let remove = RemoveContainerOptionsBuilder::default().force(true).build();
    docker.remove_container(&created.id, Some(remove)).await?;
    Ok(())
}

/// Removes every container (and the claim volume) a previous bench run may have left on the
/// bench's private Engine.
async fn clean_engine(docker: &Docker) -> anyhow::Result<()> {
    let list = ListContainersOptionsBuilder::default().all(true).build();
    for c in docker.list_containers(Some(list)).await? {
        if let Some(id) = c.id {
            let remove = RemoveContainerOptionsBuilder::default().force(true).build();
            let _ = docker.remove_container(&id, Some(remove)).await;
        }
    }
    let _ = docker
        .remove_volume(
            "magnum-claim",
            None::<bollard::query_parameters::RemoveVolumeOptions>,
        )
        .await;
    Ok(())
}

/// GETs `path` every 2 ms until `field` is one of `want` (or one of `fail`, an error).
async fn poll(
    conn: &mut Conn,
    path: &str,
    field: &str,
    want: &[&str],
    fail: &[&str],
    limit: Duration,
) -> anyhow::Result<Value> {
    let deadline = Instant::now() + limit;
    loop {
        let json = conn
            .send(Method::GET, path, None)
            .await?
            .expect(200)?
            .json();
        let value = json[field].as_str().unwrap_or_default();
        if want.contains(&value) {
            return Ok(json);
        }
        if fail.contains(&value) {
            bail!("{path}: {field} became {value}: {json}");
        }
        if Instant::now() > deadline {
            bail!("{path}: {field} still {value} after {limit:?}");
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}
