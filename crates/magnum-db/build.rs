//! Rebuilds the crate when a migration is added or changed: `sqlx::migrate!` embeds
//! `../../migrations`, and cargo does not watch that directory on its own.
fn main() {
    println!("cargo:rerun-if-changed=../../migrations");
}
