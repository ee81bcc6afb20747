//! Which webhook URLs are accepted, and where a delivery may connect.
//!
//! A webhook URL is chosen by a customer (a tenant), and the service's answer to it is shown to
//! that customer: without limits it would let a tenant reach the cloud's metadata service, the
//! service's own admin API or any host of the private network, and read their ports off the
//! delivery list. Unless private targets are allowed (`WEBHOOK_ALLOW_PRIVATE_TARGETS`, the default
//! in development only), a URL must be `https`, carry no credentials, and name a host whose
//! addresses are all public. The check is made when the URL is given ([`check`]: its form and its
//! DNS answer) and again at each delivery ([`check_form`] for a literal address, [`PublicOnly`]
//! for a name): the resolver the delivery client connects through drops every non-public
//! address, so the address checked is the address connected to (no DNS rebinding in between).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use reqwest::Url;

/// How long the DNS answer for a URL being given may take.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(3);

/// Why a webhook URL is refused. The text never quotes the URL (it may hold credentials).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    #[error("is not a URL like https://shop.example/webhooks")]
    NotUrl,
    #[error("must be an http(s) URL with a host")]
    NotHttp,
    #[error("must not carry credentials (user:password@): sign-in is by the webhook signature")]
    Credentials,
    #[error("must be https (WEBHOOK_ALLOW_PRIVATE_TARGETS allows http)")]
    NotHttps,
    #[error(
        "must name a public host, not a loopback, private or link-local one (WEBHOOK_ALLOW_PRIVATE_TARGETS allows them)"
    )]
    NotPublic,
    #[error("names a host that does not resolve")]
    DoesNotResolve,
}

/// Checks a URL's form: an http(s) URL with a host and no credentials; unless `allow_private`,
/// https only and, when its host is a literal address, a public one. Names are resolved by
/// [`check`] and, at delivery, by [`PublicOnly`].
pub fn check_form(raw: &str, allow_private: bool) -> Result<Url, TargetError> {
    let raw = raw.trim();
    if raw.is_empty() || raw.len() > 2000 || raw.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(TargetError::NotUrl);
    }
    // The URL standard reads `http:///host` (and `http:\\host`) as `http://host/`: refuse what
    // was written without an authority, rather than guess.
    let Some((scheme, rest)) = raw.split_once("://") else {
        return Err(TargetError::NotHttp);
    };
    if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
        return Err(TargetError::NotHttp);
    }
    if rest.is_empty() || rest.starts_with(['/', '\\', '?', '#', ':', '@']) {
        return Err(TargetError::NotHttp);
    }
    let url = Url::parse(raw).map_err(|_| TargetError::NotUrl)?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(TargetError::Credentials);
    }
    let Some(host) = url.host_str().filter(|h| !h.is_empty()) else {
        return Err(TargetError::NotHttp);
    };
    if allow_private {
        return Ok(url);
    }
    if url.scheme() != "https" {
        return Err(TargetError::NotHttps);
    }
    match literal_ip(host) {
        Some(ip) if !is_public(ip) => Err(TargetError::NotPublic),
        _ => Ok(url),
    }
}

/// [`check_form`] for a setting read at start (`WEBHOOK_URL`), where nothing is resolved yet:
/// also refuses `localhost` names unless `allow_private`. Deliveries check the DNS answer.
pub fn check_setting(raw: &str, allow_private: bool) -> Result<Url, TargetError> {
    let url = check_form(raw, allow_private)?;
    if !allow_private && url.host_str().is_some_and(is_local_name) {
        return Err(TargetError::NotPublic);
    }
    Ok(url)
}

/// [`check_form`], and unless `allow_private`, the host's DNS answer: every address public.
pub async fn check(raw: &str, allow_private: bool) -> Result<Url, TargetError> {
    let url = check_form(raw, allow_private)?;
    if allow_private {
        return Ok(url);
    }
    if let Some(name) = url.host_str().filter(|h| literal_ip(h).is_none()) {
        let port = url.port_or_known_default().unwrap_or(443);
        let addresses: Vec<SocketAddr> = tokio::time::timeout(RESOLVE_TIMEOUT, tokio::net::lookup_host((name, port)))
            .await
            .map_err(|_| TargetError::DoesNotResolve)?
            .map_err(|_| TargetError::DoesNotResolve)?
            .collect();
        if addresses.is_empty() {
            return Err(TargetError::DoesNotResolve);
        }
        if addresses.iter().any(|a| !is_public(a.ip())) {
            return Err(TargetError::NotPublic);
        }
    }
    Ok(url)
}

/// A host written as an address (`[…]` around IPv6), as the URL parser normalised it.
fn literal_ip(host: &str) -> Option<IpAddr> {
    host.trim_start_matches('[').trim_end_matches(']').parse().ok()
}

/// `localhost` and its subdomains, which resolvers answer locally.
fn is_local_name(name: &str) -> bool {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    name == "localhost" || name.ends_with(".localhost")
}

/// Whether an address is reachable on the public internet: not loopback, private, link-local
/// (cloud metadata services), shared (carrier-grade NAT), multicast, reserved or documentation.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(ip) => is_public_v4(ip),
        IpAddr::V6(ip) => match ip.to_ipv4_mapped() {
            Some(v4) => is_public_v4(v4),
            None => is_public_v6(ip),
        },
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_documentation()
        || ip.is_multicast()
        || a == 0
        || a >= 240
        || (a == 100 && (64..128).contains(&b))
        || (a == 192 && b == 0 && c == 0)
        || (a == 198 && (b == 18 || b == 19)))
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    // Global unicast is 2000::/3; within it, leave out documentation (2001:db8::/32), the IETF's
    // protocol block with Teredo (2001::/23), 6to4 (2002::/16, an IPv4 address inside) and the
    // NAT64 prefixes (64:ff9b::/96 is outside 2000::/3 already).
    (s[0] & 0xe000) == 0x2000 && !(s[0] == 0x2001 && (s[1] == 0x0db8 || s[1] < 0x0200)) && s[0] != 0x2002
}

/// The delivery client's resolver when private targets are not allowed: the system's answer
/// without its non-public addresses; none left is an error ([`NotPublicAddress`]). The client
/// connects only to what this returns.
#[derive(Debug, Clone, Copy, Default)]
pub struct PublicOnly;

/// A name that resolves to no public address.
#[derive(Debug, thiserror::Error)]
#[error("the webhook target resolves to no public address")]
pub struct NotPublicAddress;

impl reqwest::dns::Resolve for PublicOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        Box::pin(async move {
            let name = name.as_str().to_owned();
            let public: Vec<SocketAddr> = tokio::net::lookup_host((name.as_str(), 0))
                .await?
                .filter(|a| is_public(a.ip()))
                .collect();
            if public.is_empty() {
                return Err(Box::new(NotPublicAddress) as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(public.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// Whether a delivery failed because its target was refused by [`PublicOnly`].
pub fn refused_by_resolver(e: &reqwest::Error) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cause {
        if c.downcast_ref::<NotPublicAddress>().is_some() {
            return true;
        }
        cause = c.source();
    }
    false
}

/// A URL to show: without any credentials it was stored with (before they were refused).
pub fn shown(raw: &str) -> String {
    match Url::parse(raw) {
        Ok(mut url) if !url.username().is_empty() || url.password().is_some() => {
            let _ = url.set_username("");
            let _ = url.set_password(None);
            url.to_string()
        }
        Ok(_) => raw.to_owned(),
        Err(_) => "[not a URL]".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn production_takes_only_public_https_urls_without_credentials() {
        let refused = |u: &str| check_form(u, false).unwrap_err();
        assert_eq!(refused("http://shop.example/hooks"), TargetError::NotHttps);
        assert_eq!(
            refused("https://169.254.169.254/latest/meta-data"),
            TargetError::NotPublic
        );
        assert_eq!(
            refused("https://127.0.0.1:8080/admin/v1/customers"),
            TargetError::NotPublic
        );
        assert_eq!(
            refused("https://2130706433/"),
            TargetError::NotPublic,
            "127.0.0.1 as a number"
        );
        assert_eq!(refused("https://[::1]/"), TargetError::NotPublic);
        assert_eq!(refused("https://[::ffff:10.0.0.1]/"), TargetError::NotPublic);
        assert_eq!(refused("https://[fd00::1]/"), TargetError::NotPublic);
        assert_eq!(refused("https://10.1.2.3/"), TargetError::NotPublic);
        assert_eq!(refused("https://100.64.0.1/"), TargetError::NotPublic);
        assert_eq!(
            check_setting("https://localhost/", false).unwrap_err(),
            TargetError::NotPublic
        );
        assert_eq!(
            check_setting("https://api.localhost./", false).unwrap_err(),
            TargetError::NotPublic
        );
        assert!(check_setting("https://localhost/", true).is_ok());
        assert_eq!(refused("https://user:pass@shop.example/"), TargetError::Credentials);
        assert_eq!(refused("httpx://shop.example/"), TargetError::NotHttp);
        assert_eq!(refused("http:///nohost"), TargetError::NotHttp);
        assert_eq!(refused("https:nohost"), TargetError::NotHttp);
        assert_eq!(refused("https://shop.example/a b"), TargetError::NotUrl);
        assert!(check_form("https://shop.example/hooks", false).is_ok());
        assert!(check_form("https://93.184.215.14/hooks", false).is_ok());
        assert!(check_form("https://[2a00:1450:4001::1]/hooks", false).is_ok());
    }

    #[test]
    fn development_takes_local_receivers_but_never_credentials() {
        assert!(check_form("http://127.0.0.1:9000/hooks", true).is_ok());
        assert!(check_form("http://localhost/hooks", true).is_ok());
        assert_eq!(
            check_form("http://u:p@127.0.0.1/", true).unwrap_err(),
            TargetError::Credentials
        );
        assert_eq!(check_form("http:///nohost", true).unwrap_err(), TargetError::NotHttp);
        assert_eq!(check_form("ftp://x/", true).unwrap_err(), TargetError::NotHttp);
    }

    #[test]
    fn a_shown_url_never_carries_credentials() {
        assert_eq!(shown("https://u:secret@shop.example/h"), "https://shop.example/h");
        assert_eq!(shown("https://shop.example/h"), "https://shop.example/h");
    }

    #[tokio::test]
    async fn a_name_that_resolves_to_loopback_only_is_refused() {
        let addrs = reqwest::dns::Resolve::resolve(&PublicOnly, "localhost".parse().unwrap()).await;
        assert!(addrs.is_err());
    }
}
