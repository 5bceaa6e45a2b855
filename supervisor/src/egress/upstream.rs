//! The outbound connection of an isolated browser: made directly from the daemon's network
//! namespace, or through the session's upstream proxy.
//!
//! An upstream proxy is `http://[user:pass@]host:port` (HTTP CONNECT, with Basic
//! `Proxy-Authorization` when credentials are given) or `socks5://[user:pass@]host:port`
//! (`socks5h://` is the same: host names always go to the proxy unresolved; RFC 1929
//! username/password authentication). Credentials may be percent-encoded. A [`ProxyUrl`]
//! never prints its password, not even in `Debug`: only [`ProxyUrl::masked`] is shown.

use std::fmt;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use base64::Engine;
use thiserror::Error;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use wamux_proto::EgressFailure;

/// Long enough for any usable URL with credentials.
const MAX_URL_LEN: usize = 2048;
/// The longest response head an HTTP proxy may send to CONNECT.
const MAX_HEAD_LEN: usize = 16 * 1024;
/// Bound on making one connection, proxy handshake included.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Http,
    Socks5,
}

#[derive(Clone, PartialEq, Eq)]
struct Credentials {
    user: String,
    password: String,
}

/// A validated upstream proxy URL.
#[derive(Clone, PartialEq, Eq)]
pub struct ProxyUrl {
    kind: Kind,
    host: String,
    port: u16,
    credentials: Option<Credentials>,
}

#[derive(Debug, Error, PartialEq, Eq)]
#[error("{0}")]
pub struct InvalidProxy(String);

fn invalid(why: impl Into<String>) -> InvalidProxy {
    InvalidProxy(why.into())
}

impl ProxyUrl {
    pub fn parse(text: &str) -> Result<ProxyUrl, InvalidProxy> {
        const FORM: &str =
            "use http://[user:password@]host:port or socks5://[user:password@]host:port";
        if text.len() > MAX_URL_LEN {
            return Err(invalid(format!("longer than {MAX_URL_LEN} characters")));
        }
        if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(invalid("contains spaces or control characters"));
        }
        let (scheme, rest) = text.split_once("://").ok_or_else(|| invalid(FORM))?;
        let kind = match scheme.to_ascii_lowercase().as_str() {
            "http" => Kind::Http,
            "socks5" | "socks5h" => Kind::Socks5,
            other => return Err(invalid(format!("unsupported scheme {other:?}: {FORM}"))),
        };
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.contains(['/', '?', '#']) {
            return Err(invalid(format!("a proxy URL has no path or query: {FORM}")));
        }
        let (credentials, authority) = match rest.rsplit_once('@') {
            Some((userinfo, authority)) => {
                let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
                let credentials = Credentials {
                    user: percent_decode(user)?,
                    password: percent_decode(password)?,
                };
                if credentials.user.is_empty() {
                    return Err(invalid("the user name is empty"));
                }
                if kind == Kind::Socks5
                    && (credentials.user.len() > 255 || credentials.password.len() > 255)
                {
                    return Err(invalid(
                        "SOCKS5 user names and passwords are at most 255 bytes",
                    ));
                }
                (Some(credentials), authority)
            }
            None => (None, rest),
        };
        let (host, port) = split_authority(authority).ok_or_else(|| invalid(FORM))?;
        let port: u16 = port
            .parse()
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| invalid(format!("{port:?} is not a port")))?;
        Ok(ProxyUrl {
            kind,
            host,
            port,
            credentials,
        })
    }

    /// The URL as the API shows it: the password replaced by `***`.
    pub fn masked(&self) -> String {
        let scheme = match self.kind {
            Kind::Http => "http",
            Kind::Socks5 => "socks5",
        };
        let user = match &self.credentials {
            Some(c) => format!("{}:***@", percent_encode(&c.user)),
            None => String::new(),
        };
        format!("{scheme}://{user}{}", authority(&self.host, self.port))
    }
}

impl fmt::Debug for ProxyUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

/// `host:port` or `[v6]:port`; the host checked to be a name or an address.
fn split_authority(authority: &str) -> Option<(String, &str)> {
    if let Some(rest) = authority.strip_prefix('[') {
        let (v6, port) = rest.split_once("]:")?;
        let address: Ipv6Addr = v6.parse().ok()?;
        return Some((address.to_string(), port));
    }
    let (host, port) = authority.rsplit_once(':')?;
    let name_like = !host.is_empty()
        && host.len() <= 253
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'));
    name_like.then(|| (host.to_ascii_lowercase(), port))
}

/// `host:port`, with an IPv6 address in brackets.
fn authority(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

fn percent_decode(text: &str) -> Result<String, InvalidProxy> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| invalid("a bad percent-escape in the credentials"))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| invalid("the credentials are not UTF-8"))
}

fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Connects to `host:port`, through `proxy` when there is one.
pub async fn connect(
    proxy: Option<&ProxyUrl>,
    host: &str,
    port: u16,
) -> Result<TcpStream, EgressFailure> {
    match proxy {
        None => direct(host, port).await,
        Some(proxy) => {
            let mut stream = direct(&proxy.host, proxy.port)
                .await
                .map_err(|_| EgressFailure::ProxyFailed)?;
            match proxy.kind {
                Kind::Http => http_connect(&mut stream, proxy, host, port).await?,
                Kind::Socks5 => socks5_connect(&mut stream, proxy, host, port).await?,
            }
            Ok(stream)
        }
    }
}

/// Resolves `host` (in the daemon's namespace) and tries each address in turn.
async fn direct(host: &str, port: u16) -> Result<TcpStream, EgressFailure> {
    let addresses: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
        .await
        .map_err(|_| EgressFailure::HostUnreachable)?
        .collect();
    let mut failure = EgressFailure::HostUnreachable;
    for address in addresses {
        match TcpStream::connect(address).await {
            Ok(stream) => return Ok(stream),
            Err(e) => {
                failure = match e.kind() {
                    std::io::ErrorKind::ConnectionRefused => EgressFailure::ConnectionRefused,
                    std::io::ErrorKind::HostUnreachable
                    | std::io::ErrorKind::NetworkUnreachable => EgressFailure::HostUnreachable,
                    _ => EgressFailure::Other,
                }
            }
        }
    }
    Err(failure)
}

async fn http_connect(
    stream: &mut TcpStream,
    proxy: &ProxyUrl,
    host: &str,
    port: u16,
) -> Result<(), EgressFailure> {
    let target = authority(host, port);
    let mut request = format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n");
    if let Some(c) = &proxy.credentials {
        let token =
            base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", c.user, c.password));
        request.push_str(&format!("Proxy-Authorization: Basic {token}\r\n"));
    }
    request.push_str("\r\n");
    let failed = |_| EgressFailure::ProxyFailed;
    stream.write_all(request.as_bytes()).await.map_err(failed)?;
    // Byte by byte: whatever follows the head already belongs to the tunnel.
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() >= MAX_HEAD_LEN {
            return Err(EgressFailure::ProxyFailed);
        }
        head.push(stream.read_u8().await.map_err(failed)?);
    }
    let status = String::from_utf8_lossy(&head)
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse::<u16>().ok());
    match status {
        Some(200..=299) => Ok(()),
        _ => Err(EgressFailure::ProxyFailed),
    }
}

async fn socks5_connect(
    stream: &mut TcpStream,
    proxy: &ProxyUrl,
    host: &str,
    port: u16,
) -> Result<(), EgressFailure> {
    let failed = |_| EgressFailure::ProxyFailed;
    let greeting: &[u8] = match proxy.credentials {
        Some(_) => &[5, 2, 0, 2],
        None => &[5, 1, 0],
    };
    stream.write_all(greeting).await.map_err(failed)?;
    let mut choice = [0; 2];
    stream.read_exact(&mut choice).await.map_err(failed)?;
    match (choice, &proxy.credentials) {
        ([5, 0], _) => {}
        ([5, 2], Some(c)) => {
            let mut auth = vec![1, c.user.len() as u8];
            auth.extend_from_slice(c.user.as_bytes());
            auth.push(c.password.len() as u8);
            auth.extend_from_slice(c.password.as_bytes());
            stream.write_all(&auth).await.map_err(failed)?;
            let mut status = [0; 2];
            stream.read_exact(&mut status).await.map_err(failed)?;
            if status[1] != 0 {
                return Err(EgressFailure::ProxyFailed);
            }
        }
        _ => return Err(EgressFailure::ProxyFailed),
    }

    let mut request = vec![5, 1, 0];
    match host.parse::<IpAddr>() {
        Ok(IpAddr::V4(v4)) => {
            request.push(1);
            request.extend_from_slice(&v4.octets());
        }
        Ok(IpAddr::V6(v6)) => {
            request.push(4);
            request.extend_from_slice(&v6.octets());
        }
        Err(_) => {
            let len = u8::try_from(host.len()).map_err(|_| EgressFailure::HostUnreachable)?;
            request.extend_from_slice(&[3, len]);
            request.extend_from_slice(host.as_bytes());
        }
    }
    request.extend_from_slice(&port.to_be_bytes());
    stream.write_all(&request).await.map_err(failed)?;

    let mut reply = [0; 4];
    stream.read_exact(&mut reply).await.map_err(failed)?;
    let bound_len = match reply[3] {
        1 => 4,
        4 => 16,
        3 => usize::from(stream.read_u8().await.map_err(failed)?),
        _ => return Err(EgressFailure::ProxyFailed),
    };
    let mut bound = vec![0; bound_len + 2];
    stream.read_exact(&mut bound).await.map_err(failed)?;
    match reply[1] {
        0 => Ok(()),
        3 | 4 => Err(EgressFailure::HostUnreachable),
        5 => Err(EgressFailure::ConnectionRefused),
        _ => Err(EgressFailure::ProxyFailed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    #[test]
    fn proxy_urls_are_validated_and_shown_without_their_password() {
        let http = ProxyUrl::parse("http://ana:p%40ss:w@Proxy.example:3128").unwrap();
        assert_eq!(http.masked(), "http://ana:***@proxy.example:3128");
        assert_eq!(format!("{http:?}"), "http://ana:***@proxy.example:3128");
        assert_eq!(
            http.credentials.as_ref().unwrap().password,
            "p@ss:w",
            "percent-decoded, split at the first colon"
        );
        let socks = ProxyUrl::parse("socks5h://[::1]:1080/").unwrap();
        assert_eq!(socks.kind, Kind::Socks5);
        assert_eq!(socks.masked(), "socks5://[::1]:1080");
        assert_eq!(
            ProxyUrl::parse("socks5://u@10.0.0.1:1").unwrap().masked(),
            "socks5://u:***@10.0.0.1:1"
        );
        for bad in [
            "",
            "proxy.example:3128",
            "https://proxy.example:3128",
            "ftp://proxy.example:21",
            "http://proxy.example",
            "http://proxy.example:0",
            "http://proxy.example:99999",
            "http://proxy.example:3128/path",
            "http://proxy.example:3128?x=1",
            "http://:pass@proxy.example:3128",
            "http://u:%zz@proxy.example:3128",
            "http://pro xy:3128",
            "http://[::1:3128",
            "http://a\nb:1",
        ] {
            assert!(ProxyUrl::parse(bad).is_err(), "{bad:?}");
        }
        let long = format!("socks5://{}:x@h:1", "u".repeat(256));
        assert!(ProxyUrl::parse(&long).is_err());
    }

    /// A one-shot upstream proxy: for each step, reads that many bytes and writes the answer;
    /// then echoes. Yields every byte it read during the steps.
    async fn upstream(steps: Vec<(usize, Vec<u8>)>) -> (u16, tokio::task::JoinHandle<Vec<u8>>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let task = tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut got = Vec::new();
            for (len, answer) in steps {
                let mut step = vec![0; len];
                stream.read_exact(&mut step).await.unwrap();
                got.extend_from_slice(&step);
                stream.write_all(&answer).await.unwrap();
            }
            let mut buf = [0; 4];
            if let Ok(n) = stream.read(&mut buf).await {
                let _ = stream.write_all(&buf[..n]).await;
            }
            got
        });
        (port, task)
    }

    async fn echoes(stream: &mut TcpStream) {
        stream.write_all(b"ping").await.unwrap();
        let mut back = [0; 4];
        stream.read_exact(&mut back).await.unwrap();
        assert_eq!(&back, b"ping");
    }

    #[tokio::test]
    async fn an_http_proxy_gets_connect_with_basic_credentials() {
        let expected = "CONNECT example.org:443 HTTP/1.1\r\nHost: example.org:443\r\n\
                        Proxy-Authorization: Basic dTpwQHNz\r\n\r\n";
        let (port, seen) = upstream(vec![(
            expected.len(),
            b"HTTP/1.1 200 Connection established\r\n\r\n".to_vec(),
        )])
        .await;
        let proxy = ProxyUrl::parse(&format!("http://u:p%40ss@127.0.0.1:{port}")).unwrap();
        let mut stream = connect(Some(&proxy), "example.org", 443).await.unwrap();
        echoes(&mut stream).await;
        assert_eq!(String::from_utf8(seen.await.unwrap()).unwrap(), expected);

        let (port, _) = upstream(vec![(10, b"HTTP/1.1 407 Auth\r\n\r\n".to_vec())]).await;
        let proxy = ProxyUrl::parse(&format!("http://127.0.0.1:{port}")).unwrap();
        assert_eq!(
            connect(Some(&proxy), "example.org", 443).await.unwrap_err(),
            EgressFailure::ProxyFailed
        );
    }

    #[tokio::test]
    async fn a_socks5_proxy_gets_the_name_and_the_credentials() {
        let mut expected = vec![5, 2, 0, 2, 1, 1, b'u', 2, b'p', b'w', 5, 1, 0, 3, 11];
        expected.extend_from_slice(b"example.org");
        expected.extend_from_slice(&443u16.to_be_bytes());
        let (port, seen) = upstream(vec![
            (4, vec![5, 2]),
            (6, vec![1, 0]),
            (expected.len() - 10, vec![5, 0, 0, 1, 0, 0, 0, 0, 0, 0]),
        ])
        .await;
        let proxy = ProxyUrl::parse(&format!("socks5://u:pw@127.0.0.1:{port}")).unwrap();
        let mut stream = connect(Some(&proxy), "example.org", 443).await.unwrap();
        echoes(&mut stream).await;
        assert_eq!(seen.await.unwrap(), expected);

        let (port, _) = upstream(vec![
            (3, vec![5, 0]),
            (10, vec![5, 5, 0, 1, 0, 0, 0, 0, 0, 0]),
        ])
        .await;
        let proxy = ProxyUrl::parse(&format!("socks5://127.0.0.1:{port}")).unwrap();
        assert_eq!(
            connect(Some(&proxy), "10.1.2.3", 80).await.unwrap_err(),
            EgressFailure::ConnectionRefused
        );
    }

    #[tokio::test]
    async fn a_direct_connection_tells_refused_from_unresolvable() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        assert_eq!(
            connect(None, "127.0.0.1", port).await.unwrap_err(),
            EgressFailure::ConnectionRefused
        );
        assert_eq!(
            connect(None, "no-such-host.invalid", 80).await.unwrap_err(),
            EgressFailure::HostUnreachable
        );
    }
}
