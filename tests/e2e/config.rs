//! Configuration as operators use it: `--config-file`, environment overrides, the version cap,
//! and the `db` subcommands.

use magnum_test_support::{Deployment, binary};
use std::process::Command;

#[tokio::test]
async fn db_version_reads_the_connection_from_the_environment() {
    let e2e = Deployment::builder()
        .conductors(0)
        .without_api()
        .start()
        .await;
    let bare = std::env::temp_dir().join(format!(
        "magnum-e2e-{}.conf",
        magnum_test_support::unique_suffix()
    ));
    std::fs::write(&bare, "[DEFAULT]\ndebug = false\n").unwrap();
    let out = Command::new(binary("magnum-conductor"))
        .arg("--config-file")
        .arg(&bare)
        .args(["db", "version"])
        .env("MAGNUM_DATABASE__CONNECTION", &e2e.database_url)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let latest = crate::layout::latest_migration();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        latest.to_string()
    );
    // Without the override the conductor says what is missing instead of guessing.
    let missing = Command::new(binary("magnum-conductor"))
        .arg("--config-file")
        .arg(&bare)
        .args(["db", "version"])
        .output()
        .unwrap();
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("[database] connection is not set"));
    let _ = std::fs::remove_file(bare);
}

#[tokio::test]
async fn a_version_cap_below_a_method_refuses_it_without_publishing() {
    let capped = Deployment::builder()
        .config("[upgrade_levels]\nconductor = 0.9\n")
        .without_waiting()
        .start()
        .await;
    let reply = capped
        .post("/v1/baymodels", &crate::baymodel("capped"))
        .await;
    reply.expect(503);
    assert!(
        reply.error_message().contains("version cap is 0.9"),
        "{}",
        reply.text
    );
    assert_eq!(capped.count("baymodel").await, 0);
    let bad = Deployment::builder()
        .config("[upgrade_levels]\nconductor = banana\n")
        .conductors(0)
        .without_api()
        .start()
        .await;
    let out = Command::new(binary("magnum-api"))
        .args(bad.config_args())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("[upgrade_levels] conductor"));
}
