//! The real Keystone `scripts/lib/keystone.sh` (`ensure_keystone`) runs for the tests: where it
//! is, the users it made, and tokens issued and revoked through its API.

use serde_json::{Value, json};
use std::time::Duration;

/// A tenant user `ensure_keystone` creates: `(user, project)`, role member.
pub const ALICE: (&str, &str) = ("magnum-alice", "magnum-tenant-a");
/// The second tenant user, in another project.
pub const BOB: (&str, &str) = ("magnum-bob", "magnum-tenant-b");
/// Keystone's bootstrap administrator (role admin on project admin).
pub const ADMIN: (&str, &str) = ("admin", "admin");
/// The service user magnum-api authenticates as (role admin on project service).
pub const SERVICE: (&str, &str) = ("magnum", "service");

/// The test Keystone, from the environment `ensure_keystone` exports.
#[derive(Debug, Clone)]
pub struct TestKeystone {
    /// `MAGNUM_TEST_KEYSTONE_URL` (tokens live an hour).
    pub url: String,
    /// `MAGNUM_TEST_KEYSTONE_SHORT_URL`: the same Keystone issuing short-lived tokens.
    pub short_url: String,
    /// `MAGNUM_TEST_KEYSTONE_SHORT_TTL`: their lifetime.
    pub short_ttl: Duration,
    admin_password: String,
    service_password: String,
    user_password: String,
    http: reqwest::Client,
}

fn required(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!(
            "{name} is not set: these tests need the real Keystone that scripts/test starts \
             (or run `source scripts/lib/keystone.sh && ensure_keystone` first)"
        )
    })
}

impl TestKeystone {
    /// Reads the environment; panics (the test fails, it is never skipped) when Keystone was
    /// not set up.
    pub fn from_env() -> TestKeystone {
        TestKeystone {
            url: required("MAGNUM_TEST_KEYSTONE_URL"),
            short_url: required("MAGNUM_TEST_KEYSTONE_SHORT_URL"),
            short_ttl: Duration::from_secs(
                required("MAGNUM_TEST_KEYSTONE_SHORT_TTL")
                    .parse()
                    .expect("MAGNUM_TEST_KEYSTONE_SHORT_TTL is a number of seconds"),
            ),
            admin_password: required("MAGNUM_TEST_KEYSTONE_ADMIN_PASSWORD"),
            service_password: required("MAGNUM_TEST_KEYSTONE_SERVICE_PASSWORD"),
            user_password: required("MAGNUM_TEST_KEYSTONE_USER_PASSWORD"),
            http: crate::http_client(),
        }
    }

    /// Configuration making magnum-api validate tokens with this Keystone; `overrides`
    /// (`key = value` lines) replace options of `[keystone_authtoken]` (a key may appear only
    /// once in a section).
    pub fn api_config(&self, overrides: &str) -> String {
        let mut options = vec![
            ("www_authenticate_uri", format!("{}/v3", self.url)),
            ("auth_url", self.url.clone()),
            ("username", SERVICE.0.to_owned()),
            ("password", self.service_password.clone()),
            ("project_name", SERVICE.1.to_owned()),
            ("user_domain_id", "default".to_owned()),
            ("project_domain_id", "default".to_owned()),
        ];
        let mut extra = String::new();
        for line in overrides.lines().filter(|l| !l.trim().is_empty()) {
            let (key, value) = line.split_once('=').expect("key = value");
            let (key, value) = (key.trim(), value.trim().to_owned());
            match options.iter_mut().find(|(k, _)| *k == key) {
                Some(option) => option.1 = value,
                None => extra.push_str(&format!("{key} = {value}\n")),
            }
        }
        let mut ini = "[DEFAULT]\nauth_strategy = keystone\n[keystone_authtoken]\n".to_owned();
        for (key, value) in options {
            ini.push_str(&format!("{key} = {value}\n"));
        }
        ini + &extra
    }

    fn password_of(&self, user: &str) -> &str {
        match user {
            u if u == ADMIN.0 => &self.admin_password,
            u if u == SERVICE.0 => &self.service_password,
            _ => &self.user_password,
        }
    }

    /// A project-scoped token of `who` (`(user, project)`), issued by the main Keystone.
    pub async fn token(&self, who: (&str, &str)) -> String {
        self.issue(
            &self.url,
            who,
            json!({"project": {"name": who.1, "domain": {"id": "default"}}}),
        )
        .await
    }

    /// A token of `who` that expires after [`TestKeystone::short_ttl`].
    pub async fn short_lived_token(&self, who: (&str, &str)) -> String {
        self.issue(
            &self.short_url,
            who,
            json!({"project": {"name": who.1, "domain": {"id": "default"}}}),
        )
        .await
    }

    /// A token of the admin scoped to the whole system, not to a project.
    pub async fn system_scoped_admin_token(&self) -> String {
        self.issue(&self.url, ADMIN, json!({"system": {"all": true}}))
            .await
    }

    async fn issue(&self, base: &str, who: (&str, &str), scope: Value) -> String {
        let body = json!({"auth": {
            "identity": {"methods": ["password"], "password": {"user": {
                "name": who.0, "domain": {"id": "default"}, "password": self.password_of(who.0)
            }}},
            "scope": scope,
        }});
        let resp = self
            .http
            .post(format!("{base}/v3/auth/tokens?nocatalog"))
            .json(&body)
            .send()
            .await
            .expect("Keystone reachable");
        assert_eq!(resp.status().as_u16(), 201, "Keystone issues a token");
        resp.headers()["x-subject-token"]
            .to_str()
            .expect("token text")
            .to_owned()
    }

    /// Revokes `token` (`DELETE /v3/auth/tokens`, as its owner).
    pub async fn revoke(&self, token: &str) {
        let resp = self
            .http
            .delete(format!("{}/v3/auth/tokens", self.url))
            .header("X-Auth-Token", token)
            .header("X-Subject-Token", token)
            .send()
            .await
            .expect("Keystone reachable");
        assert_eq!(resp.status().as_u16(), 204, "Keystone revokes the token");
    }

    /// Calls the identity API as the admin: `method path` with `body`; returns status and JSON.
    pub async fn admin_call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let admin = self.token(ADMIN).await;
        let mut req = self
            .http
            .request(method, format!("{}/v3{path}", self.url))
            .header("X-Auth-Token", admin);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await.expect("Keystone reachable");
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    /// The id of role `name`.
    pub async fn role_id(&self, name: &str) -> String {
        let (_, body) = self
            .admin_call(reqwest::Method::GET, &format!("/roles?name={name}"), None)
            .await;
        body["roles"][0]["id"]
            .as_str()
            .unwrap_or_else(|| panic!("role {name} exists"))
            .to_owned()
    }

    /// The id of project `name`, looked up as the admin.
    pub async fn project_id(&self, name: &str) -> String {
        let admin = self.token(ADMIN).await;
        let resp = self
            .http
            .get(format!("{}/v3/projects?name={name}", self.url))
            .header("X-Auth-Token", admin)
            .send()
            .await
            .expect("Keystone reachable");
        let body: Value = resp.json().await.expect("projects JSON");
        body["projects"][0]["id"]
            .as_str()
            .unwrap_or_else(|| panic!("project {name} exists"))
            .to_owned()
    }

    /// The id of user `name`, looked up as the admin.
    pub async fn user_id(&self, name: &str) -> String {
        let admin = self.token(ADMIN).await;
        let resp = self
            .http
            .get(format!("{}/v3/users?name={name}", self.url))
            .header("X-Auth-Token", admin)
            .send()
            .await
            .expect("Keystone reachable");
        let body: Value = resp.json().await.expect("users JSON");
        body["users"][0]["id"]
            .as_str()
            .unwrap_or_else(|| panic!("user {name} exists"))
            .to_owned()
    }
}
