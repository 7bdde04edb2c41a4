//! The compiled-in rule table of spec §6.4, in both its default and strict
//! (`enforce_new_defaults = true`) columns, with a one-line description per rule.

/// Strict column for reads: an admin, or a reader of the target's project.
const STRICT_READ: &str = "rule:context_is_admin or (role:reader and project_id:%(project_id)s)";
/// Strict column for writes: an admin, or a member of the target's project.
const STRICT_WRITE: &str = "rule:context_is_admin or (role:member and project_id:%(project_id)s)";
/// Admin-only rules, the same in both columns.
const ADMIN: &str = "rule:admin_api";

/// One compiled-in rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DefaultRule {
    pub(crate) name: String,
    pub(crate) check: &'static str,
    pub(crate) description: String,
}

/// Families with `get`, `get_all`, `detail`, `create`, `update` and `delete` rules.
const FAMILIES: [&str; 10] = [
    "bay",
    "baymodel",
    "node",
    "pod",
    "service",
    "rc",
    "container",
    "x509keypair",
    "cluster",
    "clustertemplate",
];

#[derive(Clone, Copy)]
enum Access {
    Read,
    Write,
    Admin,
}

struct Table {
    strict: bool,
    rules: Vec<DefaultRule>,
}

impl Table {
    fn add(&mut self, family: &str, action: &str, access: Access) {
        let check = match (access, self.strict) {
            (Access::Admin, _) => ADMIN,
            (Access::Read | Access::Write, false) => "rule:default",
            (Access::Read, true) => STRICT_READ,
            (Access::Write, true) => STRICT_WRITE,
        };
        self.rules.push(DefaultRule {
            name: format!("{family}:{action}"),
            check,
            description: describe(family, action),
        });
    }
}

/// Every default rule, in the order the sample file lists them.
pub(crate) fn rules(strict: bool) -> Vec<DefaultRule> {
    let base = |name: &str, check: &'static str, description: &str| DefaultRule {
        name: name.to_owned(),
        check,
        description: description.to_owned(),
    };
    let mut table = Table {
        strict,
        rules: vec![
            base(
                "context_is_admin",
                "role:admin",
                "Who is an administrator (the request context's is_admin).",
            ),
            base(
                "admin_or_owner",
                "is_admin:True or project_id:%(project_id)s",
                "An administrator, or a caller in the target's project.",
            ),
            base("admin_api", "rule:context_is_admin", "Administrators only."),
            base(
                "default",
                "rule:admin_or_owner",
                "The rule for any rule name not defined.",
            ),
        ],
    };
    for family in FAMILIES {
        for action in ["get", "get_all", "detail"] {
            table.add(family, action, Access::Read);
        }
        for action in ["create", "update", "delete"] {
            table.add(family, action, Access::Write);
        }
        match family {
            "baymodel" | "clustertemplate" => table.add(family, "publish", Access::Admin),
            "container" => {
                table.add(family, "logs", Access::Read);
                for action in ["start", "stop", "pause", "unpause", "reboot", "execute"] {
                    table.add(family, action, Access::Write);
                }
            }
            "cluster" => {
                table.add(family, "resize", Access::Write);
                table.add(family, "upgrade", Access::Write);
            }
            _ => {}
        }
        let mut all_projects = vec!["get_all", "get_one", "detail", "update", "delete"];
        if family == "cluster" {
            all_projects.extend(["resize", "upgrade"]);
        }
        for action in all_projects {
            table.add(family, &format!("{action}_all_projects"), Access::Admin);
        }
    }
    for action in ["get", "get_all"] {
        table.add("nodegroup", action, Access::Read);
    }
    for action in ["create", "update", "delete"] {
        table.add("nodegroup", action, Access::Write);
    }
    for action in ["get_all", "get_one", "update", "delete"] {
        table.add(
            "nodegroup",
            &format!("{action}_all_projects"),
            Access::Admin,
        );
    }
    table.add("certificate", "get", Access::Read);
    table.add("certificate", "create", Access::Write);
    table.add("certificate", "rotate_ca", Access::Write);
    table.add("credential", "rotate", Access::Write);
    table.add("quota", "get", Access::Read);
    for action in ["create", "update", "delete", "get_all"] {
        table.add("quota", action, Access::Admin);
    }
    table.add("stats", "get_all", Access::Read);
    table.add("magnum-service", "get_all", Access::Admin);
    table.rules
}

/// `(singular with article, plural)` of a family, for descriptions.
fn noun(family: &str) -> (&'static str, &'static str) {
    match family {
        "bay" => ("a bay", "bays"),
        "baymodel" => ("a baymodel", "baymodels"),
        "node" => ("a node", "nodes"),
        "pod" => ("a pod", "pods"),
        "service" => ("a Kubernetes service", "Kubernetes services"),
        "rc" => ("a replication controller", "replication controllers"),
        "container" => ("a container", "containers"),
        "x509keypair" => ("an X509 key pair", "X509 key pairs"),
        "cluster" => ("a cluster", "clusters"),
        "clustertemplate" => ("a cluster template", "cluster templates"),
        "nodegroup" => ("a nodegroup", "nodegroups"),
        "quota" => ("a quota", "quotas"),
        _ => ("an object", "objects"),
    }
}

fn describe(family: &str, action: &str) -> String {
    let (one, many) = noun(family);
    match (family, action) {
        ("certificate", "get") => "Show the CA certificate of a bay.".to_owned(),
        ("certificate", "create") => "Sign a certificate for a bay.".to_owned(),
        ("certificate", "rotate_ca") => "Rotate the CA certificate of a bay.".to_owned(),
        ("credential", "rotate") => "Rotate the credentials of a cluster.".to_owned(),
        ("quota", "get") => "Show a quota of the caller's project.".to_owned(),
        ("quota", "get_all") => "List the quotas of every project.".to_owned(),
        ("stats", "get_all") => {
            "Show bay statistics (of every project to administrators).".to_owned()
        }
        ("magnum-service", "get_all") => "List Magnum services (conductors).".to_owned(),
        ("container", "logs") => "Read the logs of a container.".to_owned(),
        ("container", "execute") => "Run a command in a container.".to_owned(),
        (_, "get") => format!("Show {one}."),
        (_, "get_all") => format!("List {many}."),
        (_, "detail") => format!("List {many} with detail."),
        (_, "publish") => format!("Make {one} public or private."),
        (_, "get_all_all_projects") => format!("List {many} of every project."),
        (_, "get_one_all_projects") => format!("Show {one} of any project."),
        (_, "detail_all_projects") => format!("List {many} of every project with detail."),
        (_, action) => {
            let (verb, scope) = match action.strip_suffix("_all_projects") {
                Some(verb) => (verb, " of any project"),
                None => (action, ""),
            };
            let mut verb = verb.replace('_', " ");
            if let Some(first) = verb.get(..1) {
                verb = first.to_uppercase() + &verb[1..];
            }
            format!("{verb} {one}{scope}.")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_descriptions_read_well() {
        let rules = rules(false);
        let mut names: Vec<_> = rules.iter().map(|r| r.name.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), rules.len());
        let find = |n: &str| {
            rules
                .iter()
                .find(|r| r.name == n)
                .unwrap()
                .description
                .clone()
        };
        assert_eq!(find("x509keypair:create"), "Create an X509 key pair.");
        assert_eq!(
            find("cluster:delete_all_projects"),
            "Delete a cluster of any project."
        );
        assert_eq!(find("container:unpause"), "Unpause a container.");
        assert_eq!(
            find("bay:get_all_all_projects"),
            "List bays of every project."
        );
    }

    #[test]
    fn the_columns_differ_only_for_reads_and_writes() {
        for (lenient, strict) in rules(false).iter().zip(rules(true).iter()) {
            assert_eq!(lenient.name, strict.name);
            if lenient.check != strict.check {
                assert_eq!(lenient.check, "rule:default", "{}", lenient.name);
                assert!(strict.check == STRICT_READ || strict.check == STRICT_WRITE);
            }
        }
    }
}
