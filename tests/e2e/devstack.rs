//! The DevStack plugin in `devstack/`: its phases run as stack.sh, unstack.sh and clean.sh run
//! them, with DevStack's helper functions replaced by recording shims
//! (`tests/e2e/devstack/harness.sh`); the written `magnum.conf` is read back, and the real
//! `magnum-conductor` migrates a database with it. Also the systemd units in `etc/systemd/`.

use magnum_test_support::{Deployment, binary, unique_suffix};
use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

const REPO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");

/// One run of the harness: the calls it recorded, in order.
struct Run {
    ok: bool,
    calls: Vec<String>,
    stderr: String,
}

/// A scratch directory standing in for `/`, removed when dropped.
struct Work(PathBuf);

impl Work {
    fn new() -> Work {
        let dir = std::env::temp_dir().join(format!("magnum-devstack-{}", unique_suffix()));
        std::fs::create_dir_all(&dir).unwrap();
        Work(dir)
    }

    fn conf(&self) -> PathBuf {
        self.0.join("etc/magnum/magnum.conf")
    }

    fn bin(&self, name: &str) -> PathBuf {
        self.0.join("usr/local/bin").join(name)
    }

    fn run(&self, phases: &[&str], env: &[(&str, &str)]) -> Run {
        let out = Command::new("bash")
            .arg(Path::new(REPO).join("tests/e2e/devstack/harness.sh"))
            .arg(&self.0)
            .args(phases)
            .envs(env.iter().copied())
            .output()
            .expect("bash runs");
        let calls = std::fs::read_to_string(self.0.join("calls.log")).unwrap_or_default();
        Run {
            ok: out.status.success(),
            calls: calls.lines().map(str::to_owned).collect(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

impl Drop for Work {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Run {
    #[track_caller]
    fn assert_ok(&self) -> &Self {
        assert!(
            self.ok,
            "harness failed: {}\ncalls:\n{}",
            self.stderr,
            self.calls.join("\n")
        );
        self
    }

    /// Index of the first call equal to `call`, failing the test when there is none.
    #[track_caller]
    fn position(&self, call: &str) -> usize {
        self.calls
            .iter()
            .position(|c| c == call)
            .unwrap_or_else(|| panic!("no call `{call}` in:\n{}", self.calls.join("\n")))
    }

    fn has_prefix(&self, prefix: &str) -> bool {
        self.calls.iter().any(|c| c.starts_with(prefix))
    }
}

/// `(section, option) -> value` of an INI file as iniset writes it.
fn ini(path: &Path) -> BTreeMap<(String, String), String> {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let mut section = String::new();
    let mut map = BTreeMap::new();
    for line in text.lines() {
        if line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = name.to_owned();
        } else if let Some((k, v)) = line.split_once('=') {
            map.insert((section.clone(), k.trim().to_owned()), v.trim().to_owned());
        }
    }
    map
}

fn get<'a>(conf: &'a BTreeMap<(String, String), String>, section: &str, option: &str) -> &'a str {
    conf.get(&(section.to_owned(), option.to_owned()))
        .map_or_else(
            || panic!("[{section}] {option} is not set in {conf:?}"),
            String::as_str,
        )
}

#[test]
fn devstack_plugin_and_image_scripts_are_shellcheck_clean() {
    let out = Command::new("shellcheck")
        .current_dir(REPO)
        .args([
            "-x",
            "devstack/plugin.sh",
            "devstack/settings",
            "devstack/lib/magnum",
            "tests/e2e/devstack/harness.sh",
            "scripts/image-test",
        ])
        .output()
        .unwrap_or_else(|e| {
            panic!("shellcheck does not run ({e}): apt-get install shellcheck (scripts/test does)")
        });
    assert!(
        out.status.success(),
        "shellcheck:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn devstack_stack_builds_configures_registers_migrates_and_starts() {
    // A real, empty database for the written configuration to point at.
    let db = Deployment::builder()
        .conductors(0)
        .without_api()
        .start()
        .await;
    let (server, name) = db.database_url.rsplit_once('/').unwrap();
    let work = Work::new();
    let run = work.run(
        &["stack:install", "stack:post-config", "stack:extra"],
        &[
            ("HARNESS_DB_SERVER", server),
            ("MAGNUM_DATABASE_NAME", name),
        ],
    );
    run.assert_ok();

    // install: both daemons built from the plugin's checkout and installed.
    let build = run.position("--- phase stack:install") + 2;
    assert!(
        run.calls[build].starts_with(
            "cargo build --release --locked --bin magnum-api --bin magnum-conductor (in "
        ),
        "{}",
        run.calls[build]
    );
    for bin in ["magnum-api", "magnum-conductor"] {
        let mode = std::fs::metadata(work.bin(bin))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o755, 0o755, "{bin} installed executable");
    }

    // post-config: the vhost, then magnum.conf, then Keystone.
    let vhost = run.position("rpc_backend_add_vhost magnum");
    let conf_path = work.conf();
    let first_iniset = run.position(&format!(
        "iniset {} DEFAULT debug true",
        conf_path.display()
    ));
    assert!(vhost < first_iniset);
    let conf = ini(&conf_path);
    assert_eq!(
        get(&conf, "DEFAULT", "transport_url"),
        "rabbit://stackrabbit:rabbit-secret@127.0.0.1:5672/magnum"
    );
    assert_eq!(get(&conf, "DEFAULT", "auth_strategy"), "keystone");
    assert_eq!(get(&conf, "api", "host"), "127.0.0.1");
    assert_eq!(get(&conf, "api", "port"), "9511");
    assert_eq!(
        get(&conf, "database", "connection"),
        format!("{server}/{name}?client_encoding=utf8")
    );
    for (option, value) in [
        ("auth_url", "http://127.0.0.1/identity"),
        ("www_authenticate_uri", "http://127.0.0.1/identity"),
        ("auth_type", "password"),
        ("username", "magnum"),
        ("password", "service-secret"),
        ("project_name", "service"),
        ("user_domain_name", "Default"),
        ("project_domain_name", "Default"),
    ] {
        assert_eq!(get(&conf, "keystone_authtoken", option), value, "{option}");
    }
    let mode = std::fs::metadata(&conf_path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o640, "magnum.conf holds passwords");
    let user = run.position("create_service_user magnum admin");
    let service = run.position(
        "get_or_create_service magnum container-infra Container Infrastructure Management Service",
    );
    let url = "http://127.0.0.1:9511/v1";
    let endpoint = run.position(&format!(
        "get_or_create_endpoint service-id-magnum RegionOne {url} {url} {url}"
    ));
    assert!(first_iniset < user && user < service && service < endpoint);

    // extra: a fresh database, migrated, then the conductor and the API.
    let conf_arg = format!("--config-file {}", conf_path.display());
    let recreate = run.position(&format!("recreate_database {name}"));
    let upgrade = run.position(&format!("magnum-conductor {conf_arg} db upgrade"));
    let cond = run.position(&format!(
        "run_process magnum-cond {} {conf_arg}",
        work.bin("magnum-conductor").display()
    ));
    let api = run.position(&format!(
        "run_process magnum-api {} {conf_arg}",
        work.bin("magnum-api").display()
    ));
    let wait = run.position("wait_for_service 60 http://127.0.0.1:9511/healthcheck");
    assert!(
        endpoint < recreate && recreate < upgrade && upgrade < cond && cond < api && api < wait
    );

    // The real conductor reads the written file: migrates and reports the schema version.
    for args in [&["db", "upgrade"][..], &["db", "version"][..]] {
        let out = Command::new(binary("magnum-conductor"))
            .arg("--config-file")
            .arg(&conf_path)
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "magnum-conductor {args:?} with the DevStack magnum.conf: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        if args[1] == "version" {
            let migrations = crate::layout::latest_migration();
            assert_eq!(
                String::from_utf8_lossy(&out.stdout).trim(),
                migrations.to_string()
            );
        }
    }
}

#[test]
fn devstack_unstack_stops_both_daemons_and_clean_removes_their_files() {
    let work = Work::new();
    work.run(&["stack:install", "stack:post-config", "stack:extra"], &[])
        .assert_ok();
    assert!(work.conf().exists() && work.bin("magnum-api").exists());
    let run = work.run(&["unstack", "clean"], &[]);
    run.assert_ok();
    let unstack = run.position("--- phase unstack");
    let api = run.position("stop_process magnum-api");
    let cond = run.position("stop_process magnum-cond");
    assert!(unstack < api && api < cond, "the API stops first");
    assert!(!run.has_prefix("run_process"));
    assert!(!work.conf().exists());
    assert!(!work.0.join("opt/stack/data/magnum").exists());
    assert!(!work.bin("magnum-api").exists() && !work.bin("magnum-conductor").exists());
}

#[test]
fn devstack_without_keystone_runs_noauth_and_registers_nothing() {
    let work = Work::new();
    let run = work.run(
        &["stack:install", "stack:post-config", "stack:extra"],
        &[("HARNESS_SERVICES", "rabbit,postgresql")],
    );
    run.assert_ok();
    let conf = ini(&work.conf());
    assert_eq!(get(&conf, "DEFAULT", "auth_strategy"), "noauth");
    assert!(!conf.keys().any(|(s, _)| s == "keystone_authtoken"));
    assert!(!run.has_prefix("create_service_user") && !run.has_prefix("get_or_create_"));
    // settings enabled both daemons.
    assert!(
        run.has_prefix("run_process magnum-cond ") && run.has_prefix("run_process magnum-api ")
    );
}

#[test]
fn devstack_refuses_mysql_and_a_missing_cargo_with_clear_messages() {
    let work = Work::new();
    let run = work.run(
        &["stack:post-config"],
        &[("HARNESS_SERVICES", "key,rabbit,mysql")],
    );
    assert!(!run.ok);
    assert!(
        run.stderr.contains("magnum-rs needs PostgreSQL"),
        "{}",
        run.stderr
    );
    assert!(!work.conf().exists());

    let run = work.run(&["stack:install"], &[("HARNESS_NO_CARGO", "1")]);
    assert!(!run.ok);
    assert!(run.stderr.contains("cargo is missing"), "{}", run.stderr);
}

#[test]
fn systemd_units_run_each_daemon_as_magnum_and_outwait_its_graceful_shutdown() {
    // Type=notify would be a lie unless a daemon told systemd it is ready.
    let notifies = Command::new("grep")
        .args([
            "-rlE",
            "NOTIFY_SOCKET|sd_notify|sd-notify",
            "crates/magnum-api/src",
        ])
        .arg("crates/magnum-conductor/src")
        .current_dir(REPO)
        .output()
        .unwrap();
    let notifies = !String::from_utf8_lossy(&notifies.stdout).trim().is_empty();
    let sample = std::fs::read_to_string(Path::new(REPO).join("etc/magnum/magnum.conf")).unwrap();
    let default_secs = |option: &str| -> u64 {
        sample
            .lines()
            .find_map(|l| l.strip_prefix(&format!("#{option} = ")))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no default of {option} in the sample"))
    };
    let longest_wait =
        default_secs("graceful_shutdown_timeout").max(default_secs("rpc_response_timeout"));
    for daemon in ["magnum-api", "magnum-conductor"] {
        let unit = ini(&Path::new(REPO).join(format!("etc/systemd/{daemon}.service")));
        let service = |option: &str| get(&unit, "Service", option).to_owned();
        assert_eq!(
            service("Type"),
            if notifies { "notify" } else { "simple" },
            "{daemon}"
        );
        assert_eq!(service("User"), "magnum");
        assert_eq!(service("KillSignal"), "SIGTERM");
        assert_eq!(
            service("ExecStart"),
            format!("/usr/local/bin/{daemon} --config-file /etc/magnum/magnum.conf")
        );
        let stop: u64 = service("TimeoutStopSec").parse().unwrap();
        assert!(
            stop > longest_wait,
            "{daemon}: TimeoutStopSec={stop} <= {longest_wait}"
        );
        assert_eq!(get(&unit, "Install", "WantedBy"), "multi-user.target");
    }
}
