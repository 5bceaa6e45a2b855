//! The doors every request passes before any route, with or without `--api-key`:
//!
//! 1. Its `Host` must be one wamux serves, else 421 `misdirected_request`. DNS rebinding lets
//!    a web page read wamux's answers (QR codes, the event stream) under the page's own host
//!    name, so this holds for every route, reads, `/health` and the dashboard included.
//! 2. A state-changing request (any method but GET, HEAD and OPTIONS) that carries an `Origin`
//!    must come from one of wamux's own pages, else 403 `cross_origin`: a page on any site can
//!    POST to a loopback port without reading the answer (`mode: 'no-cors'`), and browsers
//!    always say where such a request comes from. Requests without `Origin` (curl, Laravel, the
//!    CLI) are not from a browser page and pass; `Origin: null` is a sandboxed or opaque page,
//!    which is foreign.
//!
//! The hosts wamux serves: the listen address, and `localhost`, `127.0.0.1` and `[::1]`, at the
//! bound port; the host and port of `--public-url`; each `--allowed-host`. Names compare without
//! regard to case. A `Host` without a port (HTTP clients leave out the scheme's default port)
//! matches an entry whose port is its scheme's default (80; 443 for an `https` public URL, as a
//! TLS proxy forwards it) or an `--allowed-host` given without a port, which matches any port
//! because a proxy in front decides it. Listening on every address (`0.0.0.0`, `::`), any IP
//! literal at the bound port is served too: a rebinding page names its own host, never an IP.
//!
//! wamux's own origins are `http://` or `https://` followed by a host it serves; an origin
//! without a port stands for its scheme's default port.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::{ApiError, AppState};

/// One host wamux serves.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Door {
    /// Lowercase; an IPv6 address in brackets, in its canonical form.
    host: String,
    /// `None`: any port.
    port: Option<u16>,
    /// Whether a `Host` without a port names it.
    portless: bool,
}

/// The hosts wamux serves and, from them, its own origins.
#[derive(Debug, Clone, Default)]
pub struct Doors {
    doors: Vec<Door>,
    /// Listening on every address: the bound port, where any IP literal is served.
    any_ip_at: Option<u16>,
}

impl Doors {
    /// `listen` is the bound address (its real port, not 0). Entries that do not parse are
    /// skipped with a warning; `wamux serve` refuses them before this.
    pub fn new(listen: SocketAddr, public_url: Option<&str>, allowed_hosts: &[String]) -> Doors {
        let port = listen.port();
        let at_bound = |host: String| Door {
            host,
            port: Some(port),
            portless: port == 80,
        };
        let mut doors: Vec<Door> = [
            host_of(listen.ip()),
            "localhost".to_owned(),
            "127.0.0.1".to_owned(),
            "[::1]".to_owned(),
        ]
        .into_iter()
        .map(at_bound)
        .collect();
        if let Some(url) = public_url {
            match url_door(url) {
                Some(door) => doors.push(door),
                None => tracing::warn!(url, "the public URL names no host; it is not served"),
            }
        }
        for allowed in allowed_hosts {
            match allowed_door(allowed) {
                Ok(door) => doors.push(door),
                Err(e) => tracing::warn!(allowed, error = %e, "not an allowed host; skipped"),
            }
        }
        Doors {
            doors,
            any_ip_at: listen.ip().is_unspecified().then_some(port),
        }
    }

    /// Whether `Host: host[:port]` names wamux.
    fn serves_host(&self, authority: &str) -> bool {
        let Some((host, port)) = parse_authority(authority) else {
            return false;
        };
        let named = self.doors.iter().any(|d| {
            d.host == host
                && match port {
                    Some(p) => d.port.is_none_or(|dp| dp == p),
                    None => d.portless,
                }
        });
        named || self.any_ip(&host, port.unwrap_or(80))
    }

    /// Whether `origin` (`scheme://host[:port]`) is one of wamux's own.
    fn owns_origin(&self, origin: &str) -> bool {
        let Some((scheme, authority)) = origin.split_once("://") else {
            return false;
        };
        let Some(default_port) = default_port(scheme) else {
            return false;
        };
        let Some((host, port)) = parse_authority(authority) else {
            return false;
        };
        let port = port.unwrap_or(default_port);
        self.doors
            .iter()
            .any(|d| d.host == host && d.port.is_none_or(|dp| dp == port))
            || self.any_ip(&host, port)
    }

    fn any_ip(&self, host: &str, port: u16) -> bool {
        self.any_ip_at == Some(port) && is_ip_literal(host)
    }
}

/// Checks an `--allowed-host` value (`name`, `name:port`, `[v6]:port`), for the command line.
pub fn check_allowed_host(text: &str) -> Result<String, String> {
    allowed_door(text).map(|_| text.to_owned())
}

/// Checks that a `--public-url` names a host wamux can be reached at.
pub fn check_public_url(url: &str) -> Result<(), String> {
    url_door(url)
        .map(|_| ())
        .ok_or_else(|| format!("{url:?} is not a URL like http://host:port or https://host"))
}

fn allowed_door(text: &str) -> Result<Door, String> {
    let (host, port) = parse_authority(text.trim()).ok_or_else(|| {
        format!("{text:?} is not a host name like example.com or example.com:8083")
    })?;
    Ok(Door {
        host,
        port,
        portless: port.is_none_or(|p| p == 80),
    })
}

fn url_door(url: &str) -> Option<Door> {
    let (scheme, rest) = url.trim().split_once("://")?;
    let default = default_port(scheme)?;
    let authority = rest.split(['/', '?', '#']).next()?;
    let authority = authority.rsplit_once('@').map_or(authority, |(_, a)| a);
    let (host, port) = parse_authority(authority)?;
    let port = port.unwrap_or(default);
    Some(Door {
        host,
        port: Some(port),
        portless: port == default,
    })
}

fn default_port(scheme: &str) -> Option<u16> {
    match scheme.to_ascii_lowercase().as_str() {
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    }
}

fn host_of(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => format!("[{v6}]"),
    }
}

fn is_ip_literal(host: &str) -> bool {
    host.starts_with('[') || host.parse::<std::net::Ipv4Addr>().is_ok()
}

/// `host[:port]` as (lowercase host, port); `None` unless it is a well-formed authority
/// without user information.
fn parse_authority(text: &str) -> Option<(String, Option<u16>)> {
    let (host, port) = if let Some(inner) = text.strip_prefix('[') {
        let (v6, rest) = inner.split_once(']')?;
        let v6: Ipv6Addr = v6.parse().ok()?;
        let port = match rest {
            "" => None,
            _ => Some(rest.strip_prefix(':')?),
        };
        (format!("[{v6}]"), port)
    } else {
        let (host, port) = match text.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (text, None),
        };
        let name_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_');
        if host.is_empty() || !host.chars().all(name_char) {
            return None;
        }
        (host.to_ascii_lowercase(), port)
    };
    let port = match port {
        None => None,
        Some(digits) if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) => {
            Some(digits.parse().ok()?)
        }
        Some(_) => return None,
    };
    Some((host, port))
}

/// Door 1: 421 `misdirected_request` unless the request names a host wamux serves, in `Host`
/// and, for an absolute-form request line, in its URI too.
pub async fn require_served_host(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let doors = &state.settings.doors;
    let mut hosts = request.headers().get_all(header::HOST).iter();
    let host = match (hosts.next(), hosts.next()) {
        (Some(host), None) => host.to_str().ok(),
        _ => None,
    };
    let uri_host = request.uri().authority().map(|a| a.as_str());
    match host {
        Some(host) if doors.serves_host(host) && uri_host.is_none_or(|a| doors.serves_host(a)) => {
            next.run(request).await
        }
        _ => {
            let named = host.or(uri_host).unwrap_or("");
            tracing::warn!(
                host = named,
                "refused a request for a host wamux does not serve"
            );
            ApiError::new(
                StatusCode::MISDIRECTED_REQUEST,
                "misdirected_request",
                format!(
                    "this server does not answer to the host {named:?}; \
                     if it should, start it with --allowed-host"
                ),
            )
            .into_response()
        }
    }
}

/// Door 2: 403 `cross_origin` for a state-changing request from another site's page.
pub async fn refuse_cross_origin(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    if request.method().is_safe() || own_origin(&state.settings.doors, request.headers()) {
        return next.run(request).await;
    }
    ApiError::new(
        StatusCode::FORBIDDEN,
        "cross_origin",
        "requests from another site's page may not change anything here",
    )
    .into_response()
}

/// No `Origin` (not a browser page), or exactly one of wamux's own.
fn own_origin(doors: &Doors, headers: &HeaderMap) -> bool {
    let mut origins = headers.get_all(header::ORIGIN).iter();
    match (origins.next(), origins.next()) {
        (None, _) => true,
        (Some(origin), None) => origin.to_str().is_ok_and(|o| doors.owns_origin(o)),
        (Some(_), Some(_)) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doors(listen: &str, public: Option<&str>, allowed: &[&str]) -> Doors {
        let allowed: Vec<String> = allowed.iter().map(|s| s.to_string()).collect();
        Doors::new(listen.parse().unwrap(), public, &allowed)
    }

    #[test]
    fn authorities_parse_strictly() {
        assert_eq!(
            parse_authority("LocalHost:8083"),
            Some(("localhost".into(), Some(8083)))
        );
        assert_eq!(
            parse_authority("[0:0::1]:1"),
            Some(("[::1]".into(), Some(1)))
        );
        assert_eq!(
            parse_authority("example.com"),
            Some(("example.com".into(), None))
        );
        for bad in [
            "", ":80", "a:", "a:b", "a:70000", "a b", "u@a", "[::1", "[x]:1", "[::1]1", "a:1:2",
        ] {
            assert_eq!(parse_authority(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_host_without_a_port_is_the_default_port() {
        let d = doors(
            "127.0.0.1:8083",
            Some("https://wamux.example.com/base"),
            &["proxy.example", "lan.example:9000", "web.example:80"],
        );
        for served in [
            "127.0.0.1:8083",
            "localhost:8083",
            "[::1]:8083",
            "wamux.example.com",
            "wamux.example.com:443",
            "proxy.example",
            "proxy.example:1",
            "lan.example:9000",
            "web.example",
        ] {
            assert!(d.serves_host(served), "{served}");
        }
        for refused in [
            "localhost",
            "127.0.0.1",
            "localhost:8084",
            "wamux.example.com:80",
            "lan.example",
            "evil.example:8083",
            "192.168.1.5:8083",
        ] {
            assert!(!d.serves_host(refused), "{refused}");
        }
    }

    #[test]
    fn on_every_address_any_ip_literal_at_the_port_is_served() {
        let d = doors("0.0.0.0:8083", None, &[]);
        assert!(d.serves_host("192.168.1.5:8083"));
        assert!(d.serves_host("[fe80::1]:8083"));
        assert!(!d.serves_host("192.168.1.5:8084"));
        assert!(!d.serves_host("rebind.example:8083"));
    }

    #[test]
    fn own_origins_are_served_hosts_over_http_or_https() {
        let d = doors(
            "127.0.0.1:8083",
            Some("https://wamux.example.com"),
            &["proxy.example"],
        );
        for own in [
            "http://127.0.0.1:8083",
            "http://localhost:8083",
            "https://wamux.example.com",
            "https://proxy.example",
        ] {
            assert!(d.owns_origin(own), "{own}");
        }
        for foreign in [
            "null",
            "http://127.0.0.1",
            "http://127.0.0.1:8084",
            "http://wamux.example.com",
            "http://evil.example:8083",
            "file://",
            "chrome-extension://abc",
        ] {
            assert!(!d.owns_origin(foreign), "{foreign}");
        }
    }
}
