//! Serves the Kubernetes API double as a process, for trying the kubernetes driver by hand
//! without a cluster: `magnum-kube-double --nodes 3 --kubeconfig /tmp/kubeconfig`, then point
//! `[kubernetes] kubeconfig` at that file. Runs until interrupted.

use magnum_test_support::kube_double::KubeDouble;
use std::io::Write as _;
use std::path::PathBuf;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut nodes = 3usize;
    let mut kubeconfig = PathBuf::from("kubeconfig");
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next()) {
            ("--nodes", Some(n)) => nodes = n.parse()?,
            ("--kubeconfig", Some(path)) => kubeconfig = PathBuf::from(path),
            _ => {
                return Err(format!(
                    "usage: magnum-kube-double [--nodes N] [--kubeconfig PATH] (got {arg})"
                )
                .into());
            }
        }
    }
    let double = KubeDouble::start().await;
    for i in 0..nodes {
        double.add_node(
            &format!("worker-{i}"),
            &[("magnum.openstack.org/pool", "true")],
            true,
        );
    }
    double.write_kubeconfig(&kubeconfig)?;
    writeln!(
        std::io::stdout(),
        "Kubernetes API double on {} with {nodes} pool nodes; kubeconfig written to {}",
        double.url(),
        kubeconfig.display()
    )?;
    tokio::signal::ctrl_c().await?;
    Ok(())
}
