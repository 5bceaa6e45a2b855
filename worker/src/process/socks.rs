//! The isolated browser's way out: a SOCKS5 proxy on the namespace's loopback that hands every
//! connection to the supervisor's egress socket ([`wamux_proto::egress`]).
//!
//! SOCKS5 rather than an HTTP proxy: Chromium tunnels every connection through it (http, https
//! and WebSocket alike) as a plain stream to a host name and port, with the name resolved at
//! the far end, where an HTTP proxy would get plain-http requests in absolute form that cannot
//! simply be relayed. Only the worker's own processes share this loopback, so no
//! authentication is needed.
//!
//! For each connection (RFC 1928, no authentication, CONNECT only):
//! 1. Read the client's methods; answer "no authentication", or "no acceptable method".
//! 2. Read the request: CONNECT to an IPv4 or IPv6 address or a domain name, and a port.
//! 3. Connect to the egress socket, send an [`EgressRequest`] naming the session, read the
//!    [`EgressReply`].
//! 4. Answer the client with the outcome as a SOCKS5 reply code, then relay bytes both ways
//!    until either side closes.

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UnixStream};
use tracing::debug;
use wamux_proto::{EgressFailure, EgressReply, EgressRequest, read_frame, write_frame};

const VERSION: u8 = 5;
const NO_AUTHENTICATION: u8 = 0;
const NO_ACCEPTABLE_METHOD: u8 = 0xFF;
const CONNECT: u8 = 1;

/// SOCKS5 reply codes.
mod reply {
    pub const SUCCEEDED: u8 = 0;
    pub const GENERAL_FAILURE: u8 = 1;
    pub const NOT_ALLOWED: u8 = 2;
    pub const HOST_UNREACHABLE: u8 = 4;
    pub const CONNECTION_REFUSED: u8 = 5;
    pub const COMMAND_NOT_SUPPORTED: u8 = 7;
    pub const ADDRESS_NOT_SUPPORTED: u8 = 8;
}

/// Where the browser wants to go.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Target {
    host: String,
    port: u16,
}

struct Egress {
    socket: PathBuf,
    session_id: String,
}

/// Starts the proxy on a free port of the loopback; returns that port. It serves until the
/// worker exits.
pub async fn serve(egress_socket: PathBuf, session_id: String) -> Result<u16> {
    let listener = TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
        .await
        .context("cannot listen on the namespace's loopback")?;
    let port = listener.local_addr()?.port();
    let egress = Arc::new(Egress {
        socket: egress_socket,
        session_id,
    });
    tokio::spawn(async move {
        loop {
            match listener.accept().await {
                Ok((client, _)) => {
                    let egress = egress.clone();
                    tokio::spawn(async move {
                        if let Err(err) = relay(client, &egress).await {
                            debug!("proxied connection ended: {err}");
                        }
                    });
                }
                Err(err) => debug!("cannot accept a proxy connection: {err}"),
            }
        }
    });
    Ok(port)
}

async fn relay(mut client: TcpStream, egress: &Egress) -> io::Result<()> {
    let target = match negotiate(&mut client).await? {
        Ok(target) => target,
        Err(code) => return answer(&mut client, code).await,
    };
    match open(egress, &target).await {
        Ok(mut upstream) => {
            answer(&mut client, reply::SUCCEEDED).await?;
            tokio::io::copy_bidirectional(&mut client, &mut upstream).await?;
            Ok(())
        }
        Err(code) => {
            debug!(host = %target.host, port = target.port, code, "connection not made");
            answer(&mut client, code).await
        }
    }
}

/// Steps 1 and 2: the target, or the reply code refusing it. An error when the client does not
/// speak SOCKS5 or offers no method this proxy takes (it has been told so).
async fn negotiate<S>(client: &mut S) -> io::Result<Result<Target, u8>>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let [version, count] = read_array(client).await?;
    if version != VERSION {
        return Err(invalid("not a SOCKS5 client"));
    }
    let mut methods = vec![0; usize::from(count)];
    client.read_exact(&mut methods).await?;
    if !methods.contains(&NO_AUTHENTICATION) {
        client.write_all(&[VERSION, NO_ACCEPTABLE_METHOD]).await?;
        return Err(invalid(
            "the client offers no method without authentication",
        ));
    }
    client.write_all(&[VERSION, NO_AUTHENTICATION]).await?;

    let [version, command, _reserved, address_type] = read_array(client).await?;
    if version != VERSION {
        return Err(invalid("not a SOCKS5 request"));
    }
    let host = match address_type {
        1 => Ipv4Addr::from(read_array::<_, 4>(client).await?).to_string(),
        3 => {
            let [len] = read_array(client).await?;
            let mut name = vec![0; usize::from(len)];
            client.read_exact(&mut name).await?;
            match String::from_utf8(name) {
                Ok(name) if !name.is_empty() => name,
                _ => return Ok(Err(reply::ADDRESS_NOT_SUPPORTED)),
            }
        }
        4 => Ipv6Addr::from(read_array::<_, 16>(client).await?).to_string(),
        _ => return Ok(Err(reply::ADDRESS_NOT_SUPPORTED)),
    };
    let port = u16::from_be_bytes(read_array(client).await?);
    if command != CONNECT {
        return Ok(Err(reply::COMMAND_NOT_SUPPORTED));
    }
    Ok(Ok(Target { host, port }))
}

/// Step 3: the egress connection, ready to carry the target's bytes, or the reply code.
async fn open(egress: &Egress, target: &Target) -> Result<UnixStream, u8> {
    let mut stream = UnixStream::connect(&egress.socket)
        .await
        .map_err(|_| reply::GENERAL_FAILURE)?;
    let request = EgressRequest {
        session_id: egress.session_id.clone(),
        host: target.host.clone(),
        port: target.port,
    };
    write_frame(&mut stream, &request)
        .await
        .map_err(|_| reply::GENERAL_FAILURE)?;
    match read_frame::<_, EgressReply>(&mut stream).await {
        Ok(Some(EgressReply::Connected)) => Ok(stream),
        Ok(Some(EgressReply::Failed(failure))) => Err(code_of(failure)),
        Ok(None) | Err(_) => Err(reply::GENERAL_FAILURE),
    }
}

fn code_of(failure: EgressFailure) -> u8 {
    match failure {
        EgressFailure::NotAllowed => reply::NOT_ALLOWED,
        EgressFailure::HostUnreachable => reply::HOST_UNREACHABLE,
        EgressFailure::ConnectionRefused => reply::CONNECTION_REFUSED,
        EgressFailure::ProxyFailed | EgressFailure::Other => reply::GENERAL_FAILURE,
    }
}

/// A reply with an empty bound address: Chromium does not use it.
async fn answer<S: AsyncWrite + Unpin>(client: &mut S, code: u8) -> io::Result<()> {
    client
        .write_all(&[VERSION, code, 0, 1, 0, 0, 0, 0, 0, 0])
        .await
}

async fn read_array<S: AsyncRead + Unpin, const N: usize>(client: &mut S) -> io::Result<[u8; N]> {
    let mut bytes = [0; N];
    client.read_exact(&mut bytes).await?;
    Ok(bytes)
}

fn invalid(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::duplex;
    use tokio::net::UnixListener;

    /// Runs `negotiate` against the client bytes `sent`; returns its outcome and what it wrote.
    async fn negotiated(sent: &[u8]) -> (io::Result<Result<Target, u8>>, Vec<u8>) {
        let (mut ours, mut theirs) = duplex(1024);
        ours.write_all(sent).await.unwrap();
        ours.shutdown().await.unwrap();
        let outcome = negotiate(&mut theirs).await;
        drop(theirs);
        let mut written = Vec::new();
        ours.read_to_end(&mut written).await.unwrap();
        (outcome, written)
    }

    #[tokio::test]
    async fn a_connect_to_a_name_an_ipv4_and_an_ipv6_address_is_understood() {
        let mut by_name = vec![5, 2, 2, 0, 5, 1, 0, 3, 16];
        by_name.extend_from_slice(b"web.whatsapp.com");
        by_name.extend_from_slice(&443u16.to_be_bytes());
        let (outcome, written) = negotiated(&by_name).await;
        assert_eq!(
            outcome.unwrap(),
            Ok(Target {
                host: "web.whatsapp.com".into(),
                port: 443
            })
        );
        assert_eq!(written, [5, 0]);

        let (outcome, _) = negotiated(&[5, 1, 0, 5, 1, 0, 1, 127, 0, 0, 1, 0x1f, 0x90]).await;
        assert_eq!(outcome.unwrap().unwrap().host, "127.0.0.1");

        let mut v6 = vec![5, 1, 0, 5, 1, 0, 4];
        v6.extend_from_slice(&Ipv6Addr::LOCALHOST.octets());
        v6.extend_from_slice(&[0, 80]);
        let (outcome, _) = negotiated(&v6).await;
        assert_eq!(
            outcome.unwrap(),
            Ok(Target {
                host: "::1".into(),
                port: 80
            })
        );
    }

    #[tokio::test]
    async fn what_this_proxy_does_not_do_is_refused() {
        let (outcome, written) = negotiated(&[5, 1, 2]).await;
        assert!(outcome.is_err());
        assert_eq!(written, [5, NO_ACCEPTABLE_METHOD], "username/password only");

        let (outcome, _) = negotiated(&[4, 1, 0, 80, 127, 0, 0, 1, 0]).await;
        assert!(outcome.is_err(), "SOCKS4");

        let bind = [5, 1, 0, 5, 2, 0, 1, 127, 0, 0, 1, 0, 80];
        assert_eq!(
            negotiated(&bind).await.0.unwrap(),
            Err(reply::COMMAND_NOT_SUPPORTED)
        );
        let odd_address = [5, 1, 0, 5, 1, 0, 9, 0, 0];
        assert_eq!(
            negotiated(&odd_address).await.0.unwrap(),
            Err(reply::ADDRESS_NOT_SUPPORTED)
        );
        let (outcome, _) = negotiated(&[5, 1, 0, 5, 1, 0, 3, 10, b'a']).await;
        assert!(outcome.is_err(), "a request cut short");
    }

    /// A stand-in for the supervisor's egress socket: answers each request with `reply` and,
    /// when connected, echoes the bytes back in upper case. Returns the requests it saw.
    async fn fake_egress(
        path: PathBuf,
        reply: EgressReply,
    ) -> tokio::sync::mpsc::UnboundedReceiver<EgressRequest> {
        let listener = UnixListener::bind(&path).unwrap();
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            loop {
                let (mut stream, _) = listener.accept().await.unwrap();
                let request: EgressRequest = read_frame(&mut stream).await.unwrap().unwrap();
                tx.send(request).unwrap();
                write_frame(&mut stream, &reply).await.unwrap();
                let mut buf = [0; 64];
                while let Ok(n) = stream.read(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                    buf[..n].make_ascii_uppercase();
                    stream.write_all(&buf[..n]).await.unwrap();
                }
            }
        });
        rx
    }

    fn socket_path(tag: &str) -> PathBuf {
        let path =
            std::env::temp_dir().join(format!("wamux-socks-{tag}-{}.sock", std::process::id()));
        let _ = std::fs::remove_file(&path);
        path
    }

    async fn connect_through(port: u16, host: &str, target_port: u16) -> (TcpStream, [u8; 10]) {
        let mut client = TcpStream::connect((Ipv4Addr::LOCALHOST, port))
            .await
            .unwrap();
        let mut request = vec![5, 1, 0, 5, 1, 0, 3, host.len() as u8];
        request.extend_from_slice(host.as_bytes());
        request.extend_from_slice(&target_port.to_be_bytes());
        client.write_all(&request).await.unwrap();
        let mut method = [0; 2];
        client.read_exact(&mut method).await.unwrap();
        assert_eq!(method, [5, 0]);
        let mut answer = [0; 10];
        client.read_exact(&mut answer).await.unwrap();
        (client, answer)
    }

    #[tokio::test]
    async fn a_connection_goes_through_the_egress_socket_naming_the_session() {
        let path = socket_path("ok");
        let mut requests = fake_egress(path.clone(), EgressReply::Connected).await;
        let port = serve(path.clone(), "s1".into()).await.unwrap();

        let (mut client, answer) = connect_through(port, "example.org", 8443).await;
        assert_eq!(answer[1], reply::SUCCEEDED);
        assert_eq!(
            requests.recv().await.unwrap(),
            EgressRequest {
                session_id: "s1".into(),
                host: "example.org".into(),
                port: 8443
            }
        );
        client.write_all(b"hello").await.unwrap();
        let mut echoed = [0; 5];
        client.read_exact(&mut echoed).await.unwrap();
        assert_eq!(&echoed, b"HELLO");
        let _ = std::fs::remove_file(&path);
    }

    #[tokio::test]
    async fn a_refusal_of_the_supervisor_reaches_the_browser_as_its_reply_code() {
        let path = socket_path("refused");
        let _requests = fake_egress(
            path.clone(),
            EgressReply::Failed(EgressFailure::ConnectionRefused),
        )
        .await;
        let port = serve(path.clone(), "s1".into()).await.unwrap();
        let (_, answer) = connect_through(port, "example.org", 1).await;
        assert_eq!(answer[1], reply::CONNECTION_REFUSED);
        let _ = std::fs::remove_file(&path);

        let gone = socket_path("gone");
        let port = serve(gone, "s1".into()).await.unwrap();
        let (_, answer) = connect_through(port, "example.org", 1).await;
        assert_eq!(answer[1], reply::GENERAL_FAILURE, "no supervisor listening");
    }
}
