//! The oslo.policy-compatible engine: compiled rules, the §6.4 defaults, overrides from a policy
//! file, and enforcement against a caller's credentials and a target's owners.

mod check;
mod defaults;
mod file;
mod source;

pub use file::PolicyFile;

use crate::identity::Caller;
use check::{Abort, Check};
use std::collections::HashMap;
use std::path::PathBuf;

/// Most rules one enforcement may pass through by `rule:` references; deeper chains deny.
const MAX_RULE_DEPTH: usize = 32;

/// The caller as rules see it (oslo's `creds` dictionary).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Credentials {
    /// The caller's user id (`user_id:` checks).
    pub user_id: String,
    /// The caller's project (`project_id:` checks); `None` when unscoped.
    pub project_id: Option<String>,
    /// Role names (`role:` checks, compared case-insensitively).
    pub roles: Vec<String>,
    /// Whether `context_is_admin` holds for the caller (`is_admin:` checks).
    pub is_admin: bool,
}

/// The owners of what a request acts on (oslo's `target`): the object's for item operations,
/// the caller's own for lists and creates (spec §6.4).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Target {
    /// `%(project_id)s` (aliases `%(tenant)s`, `%(tenant_id)s`).
    pub project_id: Option<String>,
    /// `%(user_id)s`.
    pub user_id: Option<String>,
}

impl Target {
    /// The target of a list or create: the caller's own project and user.
    pub fn of(creds: &Credentials) -> Target {
        Target {
            project_id: creds.project_id.clone(),
            user_id: Some(creds.user_id.clone()),
        }
    }
}

/// Why policy text or a policy file was refused.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// A rule's value is not a valid check string.
    #[error("policy rule {rule:?}: {reason}")]
    InvalidRule {
        /// The rule's name.
        rule: String,
        /// What is wrong.
        reason: String,
    },
    /// The text is neither a JSON object nor the supported YAML subset.
    #[error("policy text, line {line}: {reason}")]
    Syntax {
        /// 1-based line where reading stopped.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// The policy file could not be read.
    #[error("cannot read policy file {}: {error}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's reason.
        error: std::io::Error,
    },
    /// The policy file was read but refused.
    #[error("policy file {}: {error}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// Why its text was refused.
        error: Box<PolicyError>,
    },
}

/// One named rule: its current check string, compiled, and the compiled-in default if any.
#[derive(Debug, Clone)]
struct Entry {
    name: String,
    text: String,
    check: Check,
    default: Option<defaults::DefaultRule>,
}

/// A set of compiled rules: the §6.4 defaults with any operator overrides.
#[derive(Debug, Clone)]
pub struct Policy {
    entries: Vec<Entry>,
    index: HashMap<String, usize>,
}

impl Policy {
    /// The compiled-in rules of spec §6.4; `strict` (`[oslo_policy] enforce_new_defaults`)
    /// selects the strict column, which scopes reads to readers and writes to members.
    pub fn defaults(strict: bool) -> Policy {
        let mut policy = Policy {
            entries: Vec::new(),
            index: HashMap::new(),
        };
        for rule in defaults::rules(strict) {
            // The table is covered by a test that parses every default.
            let check = check::parse(rule.check).unwrap_or(Check::Never);
            policy.set(rule.name.clone(), rule.check.to_owned(), check);
            if let Some(&at) = policy.index.get(&rule.name) {
                policy.entries[at].default = Some(rule);
            }
        }
        policy
    }

    /// Applies overrides from policy file text: a JSON object or a flat YAML map of
    /// `"rule": "check string"`. Each named rule is replaced (or added); others keep their
    /// value. Nothing is applied unless every rule compiles.
    pub fn with_overrides(mut self, text: &str) -> Result<Policy, PolicyError> {
        let compiled = source::parse_rules(text)?
            .into_iter()
            .map(|(name, text)| match check::parse(&text) {
                Ok(check) => Ok((name, text, check)),
                Err(reason) => Err(PolicyError::InvalidRule { rule: name, reason }),
            })
            .collect::<Result<Vec<_>, _>>()?;
        for (name, text, check) in compiled {
            self.set(name, text, check);
        }
        Ok(self)
    }

    fn set(&mut self, name: String, text: String, check: Check) {
        match self.index.get(&name) {
            Some(&at) => {
                let entry = &mut self.entries[at];
                entry.text = text;
                entry.check = check;
            }
            None => {
                self.index.insert(name.clone(), self.entries.len());
                self.entries.push(Entry {
                    name,
                    text,
                    check,
                    default: None,
                });
            }
        }
    }

    /// Whether `rule` allows `creds` to act on `target`.
    ///
    /// A rule name that is not defined (here or in a `rule:` reference) uses `default`, as
    /// oslo.policy does, except that undefined `*_all_projects` names use `admin_api`: spec
    /// §6.4 makes every such rule admin-only, and `default` would let owners through. A rule
    /// that reaches itself again, or a `rule:` chain deeper than 32, denies.
    pub fn enforce(&self, rule: &str, creds: &Credentials, target: &Target) -> bool {
        let mut stack = Vec::new();
        self.enforce_rule(rule, creds, target, &mut stack)
            .unwrap_or(false)
    }

    fn resolve(&self, name: &str) -> Option<&Entry> {
        let fallback = if name.ends_with("_all_projects") {
            "admin_api"
        } else {
            "default"
        };
        let at = self.index.get(name).or_else(|| self.index.get(fallback))?;
        self.entries.get(*at)
    }

    fn enforce_rule<'p>(
        &'p self,
        name: &str,
        creds: &Credentials,
        target: &Target,
        stack: &mut Vec<&'p str>,
    ) -> Result<bool, Abort> {
        let Some(entry) = self.resolve(name) else {
            return Ok(false);
        };
        if stack.contains(&entry.name.as_str()) {
            return Err(Abort::Cycle);
        }
        if stack.len() >= MAX_RULE_DEPTH {
            return Err(Abort::TooDeep);
        }
        stack.push(&entry.name);
        let allowed = check::eval(&entry.check, creds, target, &mut |next| {
            self.enforce_rule(next, creds, target, stack)
        });
        stack.pop();
        allowed
    }

    /// The credentials of `caller`, with `is_admin` set by evaluating `context_is_admin`
    /// against the caller's own project, as oslo.context does.
    pub fn credentials(&self, caller: &Caller) -> Credentials {
        let mut creds = Credentials {
            user_id: caller.user_id.clone(),
            project_id: caller.project_id.clone(),
            roles: caller.roles.clone(),
            is_admin: false,
        };
        creds.is_admin = self.enforce("context_is_admin", &creds, &Target::of(&creds));
        creds
    }

    /// Every rule name: the defaults in table order, then rules only the overrides define.
    pub fn rule_names(&self) -> Vec<&str> {
        self.entries.iter().map(|e| e.name.as_str()).collect()
    }

    /// The check string a rule currently has, if it is defined.
    pub fn check_str(&self, rule: &str) -> Option<&str> {
        self.index
            .get(rule)
            .and_then(|&at| self.entries.get(at))
            .map(|e| e.text.as_str())
    }

    /// A `policy.yaml.sample`: every compiled-in rule with its description, commented out at
    /// its default value (`#"bay:create": "rule:default"`), whatever overrides apply.
    pub fn sample_yaml(&self) -> String {
        let mut out = String::new();
        for rule in self.entries.iter().filter_map(|e| e.default.as_ref()) {
            out.push_str(&format!(
                "# {}\n#{}: {}\n\n",
                rule.description,
                yaml_quote(&rule.name),
                yaml_quote(rule.check)
            ));
        }
        out
    }
}

/// A YAML double-quoted scalar.
fn yaml_quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL_PROJECT_RULES: [&str; 4] = [
        "bay:get_all_all_projects",
        "cluster:get_one_all_projects",
        "baymodel:get_all_all_projects",
        "clustertemplate:get_all_all_projects",
    ];

    fn creds(project: &str, roles: &[&str]) -> Credentials {
        let caller = Caller {
            user_id: format!("user-{project}"),
            user_name: None,
            project_id: Some(project.into()),
            project_name: None,
            user_domain_id: None,
            user_domain_name: None,
            roles: crate::expand_implied_roles(roles),
        };
        Policy::defaults(false).credentials(&caller)
    }

    fn target(project: &str) -> Target {
        Target {
            project_id: Some(project.into()),
            user_id: Some("someone".into()),
        }
    }

    fn admin() -> Credentials {
        creds("admin-project", &["admin"])
    }

    fn member() -> Credentials {
        creds("p", &["member"])
    }

    fn reader() -> Credentials {
        creds("p", &["reader"])
    }

    #[test]
    fn every_default_compiles_in_both_columns() {
        for strict in [false, true] {
            for rule in defaults::rules(strict) {
                check::parse(rule.check).unwrap_or_else(|e| panic!("{}: {e}", rule.name));
            }
        }
    }

    #[test]
    fn the_default_table_names_every_rule_of_the_spec() {
        let policy = Policy::defaults(false);
        let names = policy.rule_names();
        let mut expected = vec![
            "context_is_admin",
            "admin_or_owner",
            "admin_api",
            "default",
            "nodegroup:get",
            "nodegroup:get_all",
            "nodegroup:create",
            "nodegroup:update",
            "nodegroup:delete",
            "nodegroup:get_all_all_projects",
            "nodegroup:get_one_all_projects",
            "container:logs",
            "certificate:get",
            "certificate:create",
            "certificate:rotate_ca",
            "credential:rotate",
            "quota:get",
            "quota:create",
            "quota:update",
            "quota:delete",
            "quota:get_all",
            "stats:get_all",
            "cluster:resize",
            "cluster:upgrade",
            "baymodel:publish",
            "clustertemplate:publish",
            "magnum-service:get_all",
        ]
        .into_iter()
        .map(str::to_owned)
        .collect::<Vec<_>>();
        for action in ["start", "stop", "pause", "unpause", "reboot", "execute"] {
            expected.push(format!("container:{action}"));
        }
        for family in defaults_families() {
            for action in ["get", "get_all", "detail", "create", "update", "delete"] {
                expected.push(format!("{family}:{action}"));
            }
            for action in ["get_all", "get_one", "detail"] {
                expected.push(format!("{family}:{action}_all_projects"));
            }
        }
        for name in &expected {
            assert!(names.contains(&name.as_str()), "{name} missing");
        }
    }

    fn defaults_families() -> [&'static str; 10] {
        [
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
        ]
    }

    #[test]
    fn the_columns_have_the_spec_check_strings() {
        let lenient = Policy::defaults(false);
        let strict = Policy::defaults(true);
        for p in [&lenient, &strict] {
            assert_eq!(p.check_str("context_is_admin"), Some("role:admin"));
            assert_eq!(
                p.check_str("admin_or_owner"),
                Some("is_admin:True or project_id:%(project_id)s")
            );
            assert_eq!(p.check_str("admin_api"), Some("rule:context_is_admin"));
            assert_eq!(p.check_str("default"), Some("rule:admin_or_owner"));
            assert_eq!(p.check_str("baymodel:publish"), Some("rule:admin_api"));
            assert_eq!(p.check_str("quota:get_all"), Some("rule:admin_api"));
        }
        assert_eq!(lenient.check_str("bay:get"), Some("rule:default"));
        assert_eq!(lenient.check_str("nodegroup:create"), Some("rule:default"));
        assert_eq!(
            strict.check_str("stats:get_all"),
            Some("rule:context_is_admin or (role:reader and project_id:%(project_id)s)")
        );
        assert_eq!(
            strict.check_str("credential:rotate"),
            Some("rule:context_is_admin or (role:member and project_id:%(project_id)s)")
        );
    }

    #[test]
    fn credentials_take_is_admin_from_context_is_admin() {
        assert!(admin().is_admin);
        assert!(!member().is_admin);
        let policy = Policy::defaults(false)
            .with_overrides(r#"{"context_is_admin": "role:reader"}"#)
            .unwrap();
        let caller = Caller {
            user_id: "u".into(),
            user_name: None,
            project_id: Some("p".into()),
            project_name: None,
            user_domain_id: None,
            user_domain_name: None,
            roles: vec!["reader".into()],
        };
        let creds = policy.credentials(&caller);
        assert!(creds.is_admin);
        assert_eq!(
            Target::of(&creds),
            Target {
                project_id: Some("p".into()),
                user_id: Some("u".into())
            }
        );
    }

    #[test]
    fn default_rules_let_project_members_act_in_their_project_only() {
        let policy = Policy::defaults(false);
        assert!(policy.enforce("bay:create", &member(), &target("p")));
        assert!(!policy.enforce("bay:create", &member(), &target("q")));
        assert!(policy.enforce("bay:delete", &member(), &target("p")));
        assert!(!policy.enforce("cluster:update", &member(), &target("q")));
        // The lenient column does not look at roles: any caller in the project passes.
        assert!(policy.enforce("bay:create", &reader(), &target("p")));
        assert!(policy.enforce("bay:get", &reader(), &target("p")));
        assert!(policy.enforce("bay:create", &creds("p", &[]), &target("p")));
    }

    #[test]
    fn admins_pass_project_scoped_rules_anywhere() {
        for strict in [false, true] {
            let policy = Policy::defaults(strict);
            assert!(policy.enforce("bay:create", &admin(), &target("q")));
            assert!(policy.enforce("cluster:get", &admin(), &target("q")));
            assert!(policy.enforce("quota:get_all", &admin(), &target("q")));
        }
    }

    #[test]
    fn strict_rules_check_reader_and_member_roles() {
        let policy = Policy::defaults(true);
        assert!(policy.enforce("bay:get", &reader(), &target("p")));
        assert!(policy.enforce("bay:get_all", &reader(), &target("p")));
        assert!(!policy.enforce("bay:get", &reader(), &target("q")));
        assert!(!policy.enforce("bay:create", &reader(), &target("p")));
        assert!(!policy.enforce("container:start", &reader(), &target("p")));
        assert!(policy.enforce("bay:create", &member(), &target("p")));
        assert!(!policy.enforce("bay:create", &member(), &target("q")));
        assert!(policy.enforce("nodegroup:get", &member(), &target("p")));
        assert!(!policy.enforce("bay:get", &creds("p", &[]), &target("p")));
    }

    #[test]
    fn admin_only_rules_refuse_members_and_readers() {
        for strict in [false, true] {
            let policy = Policy::defaults(strict);
            let mut rules = vec![
                "baymodel:publish",
                "clustertemplate:publish",
                "magnum-service:get_all",
            ];
            rules.extend([
                "quota:create",
                "quota:update",
                "quota:delete",
                "quota:get_all",
            ]);
            rules.extend(ALL_PROJECT_RULES);
            for rule in rules {
                assert!(policy.enforce(rule, &admin(), &target("p")), "{rule}");
                assert!(!policy.enforce(rule, &member(), &target("p")), "{rule}");
                assert!(!policy.enforce(rule, &reader(), &target("p")), "{rule}");
            }
        }
    }

    #[test]
    fn unknown_rules_fall_back_to_default() {
        let policy = Policy::defaults(true);
        assert!(policy.enforce("bay:frobnicate", &member(), &target("p")));
        assert!(!policy.enforce("bay:frobnicate", &member(), &target("q")));
        let closed = policy.with_overrides(r#"{"default": "!"}"#).unwrap();
        assert!(!closed.enforce("bay:frobnicate", &admin(), &target("p")));
        assert!(!closed.enforce("bay:create", &member(), &target("q")));
        // `rule:` references to undefined names fall back too, as oslo's Rules.__missing__.
        let via_ref = Policy::defaults(false)
            .with_overrides(r#"{"x": "rule:nowhere"}"#)
            .unwrap();
        assert!(via_ref.enforce("x", &member(), &target("p")));
        assert!(!via_ref.enforce("x", &member(), &target("q")));
    }

    #[test]
    fn unknown_all_projects_rules_are_admin_only() {
        let policy = Policy::defaults(false);
        assert!(!policy.enforce("pod:frobnicate_all_projects", &member(), &target("p")));
        assert!(policy.enforce("pod:frobnicate_all_projects", &admin(), &target("p")));
    }

    #[test]
    fn cycles_deny_instead_of_overflowing() {
        let policy = Policy::defaults(false)
            .with_overrides(
                r#"{"a": "rule:b", "b": "@ and rule:a", "self": "not rule:self", "c": "rule:a or @",
                    "default": "rule:default"}"#,
            )
            .unwrap();
        for rule in ["a", "b", "self", "c", "undefined"] {
            assert!(!policy.enforce(rule, &admin(), &target("p")), "{rule}");
        }
        // A short circuit before the cycle still answers.
        let policy = Policy::defaults(false)
            .with_overrides(r#"{"a": "@ or rule:a"}"#)
            .unwrap();
        assert!(policy.enforce("a", &member(), &target("p")));
    }

    #[test]
    fn long_rule_chains_deny() {
        let mut json = String::from("{");
        for i in 0..100 {
            json.push_str(&format!("\"r{i}\": \"rule:r{}\", ", i + 1));
        }
        json.push_str("\"r100\": \"@\"}");
        let policy = Policy::defaults(false).with_overrides(&json).unwrap();
        assert!(!policy.enforce("r0", &admin(), &target("p")));
        assert!(policy.enforce("r90", &admin(), &target("p")));
    }

    #[test]
    fn json_overrides_take_effect() {
        let policy = Policy::defaults(false)
            .with_overrides(r#"{"bay:create": "role:admin", "custom:rule": "role:member"}"#)
            .unwrap();
        assert!(!policy.enforce("bay:create", &member(), &target("p")));
        assert!(policy.enforce("bay:create", &admin(), &target("p")));
        assert!(policy.enforce("bay:delete", &member(), &target("p")));
        assert!(policy.enforce("custom:rule", &member(), &target("q")));
        assert_eq!(policy.check_str("bay:create"), Some("role:admin"));
        assert_eq!(policy.rule_names().last(), Some(&"custom:rule"));
    }

    #[test]
    fn yaml_overrides_with_comments_take_effect() {
        let text = r#"
# Only admins publish, as usual.
#"baymodel:publish": "rule:admin_api"

# Readers may not list bays here.
"bay:get_all": "role:member and project_id:%(project_id)s"  # members only
baymodel:publish: role:member
'admin_api': 'role:admin or role:cloud_admin'
"#;
        let policy = Policy::defaults(false).with_overrides(text).unwrap();
        assert!(!policy.enforce("bay:get_all", &reader(), &target("p")));
        assert!(policy.enforce("bay:get_all", &member(), &target("p")));
        assert!(policy.enforce("baymodel:publish", &member(), &target("p")));
        assert!(policy.enforce(
            "magnum-service:get_all",
            &creds("x", &["cloud_admin"]),
            &target("p")
        ));
    }

    #[test]
    fn overrides_with_syntax_errors_are_rejected_by_name() {
        let err = Policy::defaults(false)
            .with_overrides(r#"{"bay:get": "@", "bay:create": "role:admin or"}"#)
            .unwrap_err();
        assert!(
            matches!(&err, PolicyError::InvalidRule { rule, .. } if rule == "bay:create"),
            "{err}"
        );
        assert!(err.to_string().contains("bay:create"));
        let err = Policy::defaults(false)
            .with_overrides("\"bay:update\": \"(role:admin\"\n")
            .unwrap_err();
        assert!(err.to_string().contains("bay:update"), "{err}");
        assert!(Policy::defaults(false).with_overrides("{not json").is_err());
    }

    #[test]
    fn sample_yaml_lists_every_default_commented_out() {
        let policy = Policy::defaults(false)
            .with_overrides(r#"{"bay:create": "!", "extra": "@"}"#)
            .unwrap();
        let sample = policy.sample_yaml();
        assert!(sample.contains("# Create a bay.\n#\"bay:create\": \"rule:default\"\n"));
        assert!(!sample.contains("extra"));
        let rules: Vec<&str> = sample.lines().filter(|l| l.starts_with("#\"")).collect();
        assert_eq!(rules.len(), Policy::defaults(false).rule_names().len());
        // The sample, uncommented, reproduces the defaults.
        let uncommented: String = rules.iter().map(|l| format!("{}\n", &l[1..])).collect();
        let from_sample = Policy::defaults(true).with_overrides(&uncommented).unwrap();
        let lenient = Policy::defaults(false);
        for name in lenient.rule_names() {
            assert_eq!(
                from_sample.check_str(name),
                lenient.check_str(name),
                "{name}"
            );
        }
        // Comment-only text changes nothing.
        let unchanged = Policy::defaults(true).with_overrides(&sample).unwrap();
        assert_eq!(
            unchanged.check_str("bay:create"),
            Policy::defaults(true).check_str("bay:create")
        );
    }

    #[test]
    fn yaml_quote_escapes() {
        assert_eq!(yaml_quote(r#"a"b\c"#), r#""a\"b\\c""#);
    }
}
