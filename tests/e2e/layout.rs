//! The architecture's one forbidden arrow: the internet-facing API links no database or backend
//! crate.

use std::process::Command;

#[test]
fn magnum_api_links_no_database_or_backend_crate() {
    let out = Command::new(env!("CARGO"))
        .args([
            "tree",
            "-p",
            "magnum-api",
            "-e",
            "normal",
            "--prefix",
            "none",
            "--offline",
        ])
        .output()
        .expect("cargo tree runs");
    let tree = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && tree.contains("magnum-api"),
        "no dependency graph: {tree}"
    );
    let banned = [
        "sqlx",
        "kube",
        "k8s-openapi",
        "bollard",
        "magnum-db",
        "magnum-drivers",
    ];
    let linked: Vec<_> = tree
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| {
            banned
                .iter()
                .any(|b| n == b || n.starts_with(&format!("{b}-")))
        })
        .collect();
    assert!(linked.is_empty(), "magnum-api links {linked:?}");
    // The check itself must see the graph: the conductor does link sqlx.
    let conductor = Command::new(env!("CARGO"))
        .args([
            "tree",
            "-p",
            "magnum-conductor",
            "-e",
            "normal",
            "--prefix",
            "none",
            "--offline",
        ])
        .output()
        .expect("cargo tree runs");
    assert!(
        String::from_utf8_lossy(&conductor.stdout)
            .lines()
            .any(|l| l.starts_with("sqlx "))
    );
}

/// The version of the newest migration: the number its file name starts with
/// (`migrations/0005_….sql` → 5), what `magnum-conductor db version` prints once it ran.
pub(crate) fn latest_migration() -> u64 {
    std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../migrations"))
        .unwrap()
        .filter_map(|entry| {
            let name = entry.ok()?.file_name().into_string().ok()?;
            name.split('_').next()?.parse().ok()
        })
        .max()
        .unwrap_or(0)
}
