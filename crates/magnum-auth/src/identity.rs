//! Who is calling: the [`Caller`] identity and how noauth mode derives it from request headers.

use http::HeaderMap;
use serde::{Deserialize, Serialize};

/// The authenticated identity behind one request, whatever the auth strategy produced it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Caller {
    /// Keystone user id (noauth: `X-User-Id`, the token's user, or `[noauth] default_user_id`).
    pub user_id: String,
    /// User name, when known.
    pub user_name: Option<String>,
    /// Project the caller is scoped to; `None` for an unscoped caller, who owns nothing.
    pub project_id: Option<String>,
    /// Project name, when known.
    pub project_name: Option<String>,
    /// Domain id of the user, when known.
    pub user_domain_id: Option<String>,
    /// Domain name of the user, when known.
    pub user_domain_name: Option<String>,
    /// Role names, lowercase, deduplicated, with implied roles added (admin ⇒ member ⇒ reader).
    pub roles: Vec<String>,
}

impl Caller {
    /// Whether the caller holds `role`, compared case-insensitively as oslo.policy does.
    pub fn has_role(&self, role: &str) -> bool {
        let role = role.trim().to_lowercase();
        self.roles.contains(&role)
    }
}

/// `[noauth]`: the identity of noauth requests that name none (spec §6.2, rule 3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoauthDefaults {
    /// `default_user_id`, `noauth-user` unless configured.
    pub default_user_id: String,
    /// `default_project_id`, `noauth-project` unless configured.
    pub default_project_id: String,
    /// `default_roles`, `admin,member,reader` unless configured.
    pub default_roles: Vec<String>,
}

impl Default for NoauthDefaults {
    fn default() -> Self {
        NoauthDefaults {
            default_user_id: "noauth-user".to_owned(),
            default_project_id: "noauth-project".to_owned(),
            default_roles: vec!["admin".to_owned(), "member".to_owned(), "reader".to_owned()],
        }
    }
}

/// Normalises role names (trimmed, lowercase, no empties, no duplicates, first order kept) and
/// appends the roles Keystone's default implied-role chain adds: admin ⇒ member ⇒ reader.
pub fn expand_implied_roles<I, S>(roles: I) -> Vec<String>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let mut out: Vec<String> = Vec::new();
    let mut add = |role: String| {
        if !role.is_empty() && !out.contains(&role) {
            out.push(role);
        }
    };
    for role in roles {
        add(role.as_ref().trim().to_lowercase());
    }
    // Keystone's bootstrap creates these implications; a token lists the implied roles too.
    for (holder, implied) in [("admin", "member"), ("member", "reader")] {
        if out.iter().any(|r| r == holder) && !out.iter().any(|r| r == implied) {
            out.push(implied.to_owned());
        }
    }
    out
}

/// The noauth identity of a request (spec §6.2), from the first source that applies:
///
/// 1. identity headers, when `X-User-Id` or `X-Project-Id` is present: `X-Roles`
///    (comma-separated; none means no roles), `X-User-Name`, `X-Project-Name`,
///    `X-User-Domain-Id`, `X-User-Domain-Name`. A missing `X-User-Id` becomes the default user;
///    a missing `X-Project-Id` leaves the caller unscoped;
/// 2. `X-Auth-Token: <user>:<project>`, with roles `admin,member,reader` for user `admin` and
///    `member,reader` otherwise; a token without both parts is ignored;
/// 3. the configured defaults.
///
/// Implied roles are added in every case. Empty or non-UTF-8 header values count as absent.
pub fn noauth_identity(headers: &HeaderMap, defaults: &NoauthDefaults) -> Caller {
    let user_id = header(headers, "x-user-id");
    let project_id = header(headers, "x-project-id");
    if user_id.is_some() || project_id.is_some() {
        let roles = headers
            .get_all("x-roles")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .collect::<Vec<_>>();
        return Caller {
            user_id: user_id.unwrap_or_else(|| defaults.default_user_id.clone()),
            user_name: header(headers, "x-user-name"),
            project_id,
            project_name: header(headers, "x-project-name"),
            user_domain_id: header(headers, "x-user-domain-id"),
            user_domain_name: header(headers, "x-user-domain-name"),
            roles: expand_implied_roles(roles),
        };
    }
    if let Some((user, project)) = header(headers, "x-auth-token")
        .as_deref()
        .and_then(token_pair)
    {
        let roles: &[&str] = if user == "admin" {
            &["admin", "member", "reader"]
        } else {
            &["member", "reader"]
        };
        return Caller {
            user_id: user.to_owned(),
            user_name: None,
            project_id: Some(project.to_owned()),
            project_name: None,
            user_domain_id: None,
            user_domain_name: None,
            roles: expand_implied_roles(roles),
        };
    }
    Caller {
        user_id: defaults.default_user_id.clone(),
        user_name: None,
        project_id: Some(defaults.default_project_id.clone()),
        project_name: None,
        user_domain_id: None,
        user_domain_name: None,
        roles: expand_implied_roles(&defaults.default_roles),
    }
}

/// A header's trimmed value; absent when missing, empty or not UTF-8.
fn header(headers: &HeaderMap, name: &'static str) -> Option<String> {
    let value = headers.get(name)?.to_str().ok()?.trim();
    (!value.is_empty()).then(|| value.to_owned())
}

/// Splits a noauth token `<user>:<project>` at its first colon; both parts must be non-empty.
fn token_pair(token: &str) -> Option<(&str, &str)> {
    let (user, project) = token.split_once(':')?;
    let (user, project) = (user.trim(), project.trim());
    (!user.is_empty() && !project.is_empty()).then_some((user, project))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn identity_headers_win_and_roles_are_trimmed_lowercased_and_implied() {
        let h = headers(&[
            ("X-User-Id", "alice"),
            ("X-Project-Id", "p1"),
            ("X-Roles", " Member , ,MEMBER"),
            ("X-User-Name", "Alice"),
            ("X-Project-Name", "Project One"),
            ("X-User-Domain-Id", "default"),
            ("X-Auth-Token", "admin:other"),
        ]);
        let caller = noauth_identity(&h, &NoauthDefaults::default());
        assert_eq!(
            caller,
            Caller {
                user_id: "alice".into(),
                user_name: Some("Alice".into()),
                project_id: Some("p1".into()),
                project_name: Some("Project One".into()),
                user_domain_id: Some("default".into()),
                user_domain_name: None,
                roles: vec!["member".into(), "reader".into()],
            }
        );
    }

    #[test]
    fn identity_headers_without_roles_give_no_roles() {
        let caller = noauth_identity(
            &headers(&[("X-Project-Id", "p1")]),
            &NoauthDefaults::default(),
        );
        assert_eq!(caller.user_id, "noauth-user");
        assert_eq!(caller.project_id.as_deref(), Some("p1"));
        assert!(caller.roles.is_empty());
    }

    #[test]
    fn a_user_without_project_header_is_unscoped() {
        let h = headers(&[("X-User-Id", "bob"), ("X-Roles", "admin")]);
        let caller = noauth_identity(&h, &NoauthDefaults::default());
        assert_eq!(caller.project_id, None);
        assert_eq!(caller.roles, ["admin", "member", "reader"]);
    }

    #[test]
    fn repeated_roles_headers_are_joined() {
        let h = headers(&[
            ("X-User-Id", "u"),
            ("X-Roles", "reader"),
            ("X-Roles", "Heat_Stack_Owner"),
        ]);
        let caller = noauth_identity(&h, &NoauthDefaults::default());
        assert_eq!(caller.roles, ["reader", "heat_stack_owner"]);
    }

    #[test]
    fn token_of_admin_gives_all_three_roles() {
        let caller = noauth_identity(
            &headers(&[("X-Auth-Token", "admin:p9")]),
            &NoauthDefaults::default(),
        );
        assert_eq!(caller.user_id, "admin");
        assert_eq!(caller.project_id.as_deref(), Some("p9"));
        assert_eq!(caller.roles, ["admin", "member", "reader"]);
    }

    #[test]
    fn token_of_another_user_gives_member_and_reader() {
        let caller = noauth_identity(
            &headers(&[("X-Auth-Token", "alice:p1:x")]),
            &NoauthDefaults::default(),
        );
        assert_eq!(caller.user_id, "alice");
        assert_eq!(caller.project_id.as_deref(), Some("p1:x"));
        assert_eq!(caller.roles, ["member", "reader"]);
        assert!(!caller.has_role("admin"));
        assert!(caller.has_role("Member"));
    }

    #[test]
    fn malformed_token_falls_back_to_defaults() {
        for token in ["opaque-keystone-token", ":p1", "alice:", " : "] {
            let caller = noauth_identity(
                &headers(&[("X-Auth-Token", token)]),
                &NoauthDefaults::default(),
            );
            assert_eq!(caller.user_id, "noauth-user", "{token}");
        }
    }

    #[test]
    fn no_headers_give_the_defaults() {
        let caller = noauth_identity(&HeaderMap::new(), &NoauthDefaults::default());
        assert_eq!(caller.user_id, "noauth-user");
        assert_eq!(caller.project_id.as_deref(), Some("noauth-project"));
        assert_eq!(caller.roles, ["admin", "member", "reader"]);
    }

    #[test]
    fn configured_default_roles_are_normalised_and_implied() {
        let defaults = NoauthDefaults {
            default_user_id: "dev".into(),
            default_project_id: "devp".into(),
            default_roles: vec![" Member".into()],
        };
        let caller = noauth_identity(&headers(&[("X-User-Id", "  ")]), &defaults);
        assert_eq!(
            (caller.user_id.as_str(), caller.project_id.as_deref()),
            ("dev", Some("devp"))
        );
        assert_eq!(caller.roles, ["member", "reader"]);
    }

    #[test]
    fn implied_roles_are_added_once_and_order_is_kept() {
        assert_eq!(
            expand_implied_roles(["reader", "ADMIN", "admin"]),
            ["reader", "admin", "member"]
        );
        assert_eq!(expand_implied_roles(["member"]), ["member", "reader"]);
        assert!(expand_implied_roles(Vec::<String>::new()).is_empty());
    }
}
