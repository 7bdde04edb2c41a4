//! Fetching a tenant's `manifest_url` (spec/rest-api.md §3.4): http or https only, bounded in
//! time (`[api] manifest_fetch_timeout`) and size (`[DEFAULT] max_manifest_size`, read as it
//! streams in, never buffered past the cap), and never into `[api] manifest_url_denied_cidrs`:
//! every address a host name resolves to is checked before connecting, and the connection uses
//! exactly those addresses, so a name cannot be re-pointed between check and use. Redirects are
//! followed (at most [`MAX_REDIRECTS`]) under the same rules. Every failure is a 400 that says
//! why.

use crate::error::ApiError;
use ipnet::IpNet;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::redirect::Policy;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

/// Most redirects one fetch follows.
pub(crate) const MAX_REDIRECTS: usize = 5;

/// Fetches manifests; cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct ManifestFetcher {
    client: reqwest::Client,
    denied: Arc<[IpNet]>,
    max_size: usize,
}

/// Resolves host names with the system resolver, refusing names with an address in a denied
/// network.
#[derive(Debug)]
struct GuardedResolver {
    denied: Arc<[IpNet]>,
}

fn denied_by(denied: &[IpNet], ip: IpAddr) -> Option<IpNet> {
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 @ IpAddr::V4(_) => v4,
    };
    denied.iter().find(|net| net.contains(&ip)).copied()
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let denied = Arc::clone(&self.denied);
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if let Some((addr, net)) = addrs
                .iter()
                .find_map(|a| Some((a, denied_by(&denied, a.ip())?)))
            {
                return Err(format!(
                    "{host} resolves to {}, inside the denied network {net}",
                    addr.ip()
                )
                .into());
            }
            let addrs: Addrs = Box::new(addrs.into_iter());
            Ok(addrs)
        })
    }
}

/// Refuses a URL that is not http(s), or whose host is a literal address in a denied network
/// (literal addresses skip the resolver).
fn check_url(url: &reqwest::Url, denied: &[IpNet]) -> Result<(), String> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("the scheme {} is not http or https", url.scheme()));
    }
    let ip = match url.host() {
        Some(url::Host::Ipv4(v4)) => IpAddr::V4(v4),
        Some(url::Host::Ipv6(v6)) => IpAddr::V6(v6),
        Some(url::Host::Domain(_)) => return Ok(()),
        None => return Err("it has no host".into()),
    };
    match denied_by(denied, ip) {
        Some(net) => Err(format!("{ip} is inside the denied network {net}")),
        None => Ok(()),
    }
}

/// Parses `[api] manifest_url_denied_cidrs`.
pub(crate) fn parse_cidrs(cidrs: &[String]) -> anyhow::Result<Vec<IpNet>> {
    cidrs
        .iter()
        .map(|c| {
            c.parse::<IpNet>()
                .or_else(|_| c.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| anyhow::anyhow!("[api] manifest_url_denied_cidrs: bad CIDR {c:?}"))
        })
        .collect()
}

impl ManifestFetcher {
    /// A fetcher with these limits.
    pub(crate) fn new(
        timeout: Duration,
        denied: Vec<IpNet>,
        max_size: usize,
    ) -> anyhow::Result<Self> {
        let denied: Arc<[IpNet]> = denied.into();
        let for_redirects = Arc::clone(&denied);
        let redirects = Policy::custom(move |attempt| {
            if attempt.previous().len() >= MAX_REDIRECTS {
                attempt.error(format!("more than {MAX_REDIRECTS} redirects"))
            } else if let Err(why) = check_url(attempt.url(), &for_redirects) {
                let to = attempt.url().to_string();
                attempt.error(format!("a redirect to {to} is refused: {why}"))
            } else {
                attempt.follow()
            }
        });
        // Both the process's rustls provider and reqwest's choice of it are set once here.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(redirects)
            .no_proxy()
            .dns_resolver(Arc::new(GuardedResolver {
                denied: Arc::clone(&denied),
            }))
            .user_agent(concat!("magnum-api/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(ManifestFetcher {
            client,
            denied,
            max_size,
        })
    }

    /// The text at `url`, or a 400 saying why it cannot be had.
    pub(crate) async fn fetch(&self, url: &str) -> Result<String, ApiError> {
        let refuse = |why: String| {
            ApiError::BadRequest(format!("Could not fetch the manifest from {url}: {why}."))
        };
        let parsed = reqwest::Url::parse(url).map_err(|e| refuse(e.to_string()))?;
        check_url(&parsed, &self.denied).map_err(refuse)?;
        let mut response = self
            .client
            .get(parsed)
            .send()
            .await
            .map_err(|e| refuse(describe(&e)))?;
        if !response.status().is_success() {
            return Err(refuse(format!("the server answered {}", response.status())));
        }
        if response
            .content_length()
            .is_some_and(|n| n > self.max_size as u64)
        {
            return Err(refuse(format!(
                "it is larger than the limit of {} bytes",
                self.max_size
            )));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| refuse(describe(&e)))? {
            if body.len() + chunk.len() > self.max_size {
                return Err(refuse(format!(
                    "it is larger than the limit of {} bytes",
                    self.max_size
                )));
            }
            body.extend_from_slice(&chunk);
        }
        String::from_utf8(body).map_err(|_| refuse("it is not UTF-8 text".into()))
    }
}

/// A reqwest error with its causes, which hold the useful part (a refused address, a timeout).
fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        return "the server did not answer in time".into();
    }
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        text = format!("{text}: {cause}");
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets(list: &[&str]) -> Vec<IpNet> {
        parse_cidrs(&list.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>()).expect("parses")
    }

    #[test]
    fn literal_addresses_in_denied_networks_are_refused() {
        let denied = nets(&["169.254.0.0/16", "fd00::/8"]);
        let url = |u: &str| reqwest::Url::parse(u).expect("url");
        assert!(check_url(&url("http://169.254.169.254/latest"), &denied).is_err());
        assert!(check_url(&url("http://[::ffff:169.254.1.1]/"), &denied).is_err());
        assert!(check_url(&url("http://[fd00::1]/"), &denied).is_err());
        assert!(check_url(&url("http://127.0.0.1:8080/pod.yaml"), &denied).is_ok());
        assert!(check_url(&url("https://example.org/pod.yaml"), &denied).is_ok());
        assert!(check_url(&url("ftp://example.org/pod.yaml"), &denied).is_err());
        assert!(check_url(&url("file:///etc/passwd"), &denied).is_err());
    }

    #[test]
    fn cidrs_parse_with_or_without_prefix() {
        assert_eq!(nets(&["10.0.0.1"])[0].prefix_len(), 32);
        assert!(parse_cidrs(&["nope".into()]).is_err());
    }
}
