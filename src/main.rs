//! `uitpas-checkout`: reads the configuration, starts the service, stops on SIGTERM or ctrl-c.
//! `uitpas-checkout healthcheck [ADDR [PATH]]`: the container image's health check (see
//! [`healthcheck`]).

use std::ffi::OsString;
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;
use uitpas_checkout::{Config, app, telemetry};

/// mimalloc rather than the system allocator: a request makes many small, short-lived
/// allocations (headers, futures, JSON), and the pass cache holds millions of small objects;
/// mimalloc is faster at the first and has no per-object header for the second (see bench/).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let mut args = std::env::args_os().skip(1);
    if args.next().is_some_and(|first| first == "healthcheck") {
        return healthcheck(&args.collect::<Vec<_>>());
    }
    serve()
}

/// A failure is logged once, one line per problem, and the exit code says it failed: no
/// `Error:` block and no backtrace (`RUST_BACKTRACE`) for what is a mistake in the settings.
#[tokio::main]
async fn serve() -> ExitCode {
    let config = Config::parse();
    telemetry::init(config.log_format);
    let app = match app::build(config).await {
        Ok(app) => app,
        Err(e) => {
            for problem in app::startup_problems(&e) {
                tracing::error!("cannot start: {problem}");
            }
            return ExitCode::FAILURE;
        }
    };
    match app.run_until(app::shutdown_signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("stopped on an error: {}", app::startup_problems(&e).join("; "));
            ExitCode::FAILURE
        }
    }
}

/// All the health check may take: the Dockerfile's HEALTHCHECK gives it 5 s.
const HEALTHCHECK_TIMEOUT: Duration = Duration::from_secs(3);

/// `uitpas-checkout healthcheck [ADDR [PATH]]`: `GET http://ADDR/PATH`; exit 0 on a 200, else 1
/// (a line on stderr says why), within [`HEALTHCHECK_TIMEOUT`]. ADDR defaults to `LISTEN_ADDR`
/// (`127.0.0.1:8080` when unset), an unspecified IP (`0.0.0.0`, `[::]`) replaced by the loopback;
/// PATH defaults to `/healthz`. For an image with no shell, curl or wget: the Dockerfile's
/// HEALTHCHECK, and compose's sandbox (`127.0.0.1:9090 /_sandbox/stats`). One HTTP/1.1 request
/// over std's blocking TCP: no runtime, no configuration, no database.
fn healthcheck(args: &[OsString]) -> ExitCode {
    let listen_addr = std::env::var("LISTEN_ADDR").ok();
    let result = healthcheck_target(args, listen_addr.as_deref())
        .and_then(|(addr, path)| probe(addr, &path, HEALTHCHECK_TIMEOUT));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("unhealthy: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The address and path [`healthcheck`] asks, from its arguments and `LISTEN_ADDR`.
fn healthcheck_target(args: &[OsString], listen_addr: Option<&str>) -> Result<(SocketAddr, String), String> {
    const USAGE: &str = "usage: uitpas-checkout healthcheck [IP:PORT [PATH]]";
    if args.len() > 2 {
        return Err(USAGE.into());
    }
    let arg = |i: usize| -> Result<Option<&str>, String> {
        args.get(i)
            .map(|a| a.to_str().ok_or_else(|| USAGE.to_owned()))
            .transpose()
    };
    let text = arg(0)?.or(listen_addr).unwrap_or("127.0.0.1:8080");
    let mut addr: SocketAddr = text.parse().map_err(|_| format!("{text:?} is no IP:PORT ({USAGE})"))?;
    if addr.port() == 0 {
        return Err(format!("{text}: port 0, a port picked at start, cannot be probed"));
    }
    if addr.ip().is_unspecified() {
        addr.set_ip(match addr.ip() {
            IpAddr::V4(_) => Ipv4Addr::LOCALHOST.into(),
            IpAddr::V6(_) => Ipv6Addr::LOCALHOST.into(),
        });
    }
    let path = arg(1)?.unwrap_or("/healthz");
    if !path.starts_with('/') || path.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("{path:?} is no absolute path ({USAGE})"));
    }
    Ok((addr, path.to_owned()))
}

/// `GET path` at `addr`: `Ok` if the status line says 200, within `timeout` in all.
fn probe(addr: SocketAddr, path: &str, timeout: Duration) -> Result<(), String> {
    let deadline = Instant::now() + timeout;
    let left = || {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            Err(format!("http://{addr}{path}: no answer within {timeout:?}"))
        } else {
            Ok(left)
        }
    };
    let fail = |e: std::io::Error| format!("http://{addr}{path}: {e}");
    let mut stream = TcpStream::connect_timeout(&addr, timeout).map_err(fail)?;
    stream.set_write_timeout(Some(left()?)).map_err(fail)?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: uitpas-checkout-healthcheck\r\nConnection: close\r\n\r\n"
    )
    .map_err(fail)?;
    // The status line only: the rest of the answer is not read.
    let mut head = Vec::new();
    let mut buf = [0u8; 256];
    while !head.contains(&b'\n') && head.len() < 1024 {
        stream.set_read_timeout(Some(left()?)).map_err(fail)?;
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => head.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                left()?;
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(fail(e)),
        }
    }
    let line = head.split(|&b| b == b'\n').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    let line = line.trim_end();
    let mut words = line.split(' ');
    match (words.next(), words.next()) {
        (Some(version), Some("200")) if version.starts_with("HTTP/1.") => Ok(()),
        _ => Err(format!("http://{addr}{path}: {line:?}")),
    }
}

#[cfg(test)]
mod tests {
    use std::net::TcpListener;
    use std::thread;

    use super::*;

    /// A server of one connection on a free loopback port: reads the request head, answers
    /// `answer` (if any), then holds the connection until the client closes it. Its join handle
    /// gives the request line it read.
    fn server(answer: Option<&'static str>) -> (SocketAddr, thread::JoinHandle<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let handle = thread::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            let mut request = Vec::new();
            let mut buf = [0u8; 512];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                match conn.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => request.extend_from_slice(&buf[..n]),
                }
            }
            if let Some(answer) = answer {
                conn.write_all(answer.as_bytes()).unwrap();
            }
            // Until the client hangs up (it does once it has the status line, or gave up).
            while matches!(conn.read(&mut buf), Ok(n) if n > 0) {}
            let request = String::from_utf8_lossy(&request).into_owned();
            request.lines().next().unwrap_or_default().to_owned()
        });
        (addr, handle)
    }

    const OK: &str = "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";

    #[test]
    fn a_200_is_healthy_and_the_request_is_a_get_of_the_path() {
        let (addr, server) = server(Some(OK));
        assert_eq!(probe(addr, "/healthz", Duration::from_secs(5)), Ok(()));
        assert_eq!(server.join().unwrap(), "GET /healthz HTTP/1.1");
    }

    #[test]
    fn any_other_status_is_unhealthy() {
        for answer in [
            "HTTP/1.1 503 Service Unavailable\r\n\r\n",
            "HTTP/1.1 204 No Content\r\n\r\n",
            "HTTP/1.1 2000\r\n\r\n",
            "garbage\r\n",
        ] {
            let (addr, server) = server(Some(answer));
            let e = probe(addr, "/healthz", Duration::from_secs(5)).unwrap_err();
            assert!(e.contains("/healthz"), "{answer:?}: {e}");
            server.join().unwrap();
        }
    }

    #[test]
    fn nothing_listening_is_unhealthy() {
        let addr = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap(); // closed again
        assert!(probe(addr, "/healthz", Duration::from_secs(5)).is_err());
    }

    #[test]
    fn a_server_that_never_answers_is_unhealthy_within_the_timeout() {
        let (addr, server) = server(None);
        let started = Instant::now();
        let e = probe(addr, "/healthz", Duration::from_millis(300)).unwrap_err();
        assert!(
            e.contains("no answer within") || e.contains("timed out") || e.contains("temporarily"),
            "{e}"
        );
        assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
        server.join().unwrap();
    }

    fn target(args: &[&str], listen_addr: Option<&str>) -> Result<(SocketAddr, String), String> {
        let args: Vec<OsString> = args.iter().map(OsString::from).collect();
        healthcheck_target(&args, listen_addr)
    }

    #[test]
    fn the_target_is_listen_addr_on_the_loopback_or_the_arguments() {
        let ok = |addr: &str, path: &str| Ok((addr.parse().unwrap(), path.to_owned()));
        assert_eq!(target(&[], None), ok("127.0.0.1:8080", "/healthz"));
        assert_eq!(target(&[], Some("0.0.0.0:8080")), ok("127.0.0.1:8080", "/healthz"));
        assert_eq!(target(&[], Some("[::]:8081")), ok("[::1]:8081", "/healthz"));
        assert_eq!(target(&[], Some("10.1.2.3:8080")), ok("10.1.2.3:8080", "/healthz"));
        assert_eq!(
            target(&["127.0.0.1:9090", "/_sandbox/stats"], Some("0.0.0.0:8080")),
            ok("127.0.0.1:9090", "/_sandbox/stats")
        );
        assert!(target(&[], Some("0.0.0.0:0")).is_err());
        assert!(target(&[], Some("localhost:8080")).is_err());
        assert!(target(&["127.0.0.1:9090", "healthz"], None).is_err());
        assert!(target(&["127.0.0.1:9090", "/a b"], None).is_err());
        assert!(target(&["127.0.0.1:9090", "/healthz", "x"], None).is_err());
    }
}
