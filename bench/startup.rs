//! Start to ready: starts the service binary once per database URL given, polls `GET /readyz` every
//! 2 ms from the moment it is spawned until it answers 200, then stops it (SIGTERM) and waits for it.
//! A database that does not exist yet is created and migrated by the service itself; one given
//! again is already migrated. The rest of the environment (keys, rate limit, log level) is inherited.
//!
//! `cargo run --release --example bench-startup -- <binary> <port> <database URL>...`; prints one
//! line per start: `<database name> <milliseconds to ready> <milliseconds to first connection>`.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const POLL: Duration = Duration::from_millis(2);
const GIVE_UP: Duration = Duration::from_secs(30);

/// `Some(true)` on a 200 from /readyz, `Some(false)` on another answer, `None` when nothing listens.
fn ready(addr: SocketAddr) -> Option<bool> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_millis(200)).ok()?;
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    stream
        .write_all(b"GET /readyz HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
        .ok()?;
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    Some(answer.starts_with(b"HTTP/1.1 200"))
}

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let usage = "usage: bench-startup <binary> <port> <database URL>...";
    let binary = args.next().ok_or_else(|| anyhow::anyhow!(usage))?;
    let port: u16 = args.next().ok_or_else(|| anyhow::anyhow!(usage))?.parse()?;
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    for url in args {
        let name = url.rsplit('/').next().unwrap_or(&url).to_owned();
        let started = Instant::now();
        let mut child = Command::new(&binary)
            .env("DATABASE_URL", &url)
            .env("LISTEN_ADDR", addr.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()?;
        let mut first_connection = None;
        let outcome = loop {
            match ready(addr) {
                Some(true) => break Ok(started.elapsed()),
                Some(false) | None if started.elapsed() > GIVE_UP => {
                    break Err(anyhow::anyhow!("{name}: not ready after {GIVE_UP:?}"));
                }
                Some(false) => {
                    first_connection.get_or_insert_with(|| started.elapsed());
                }
                None => {}
            }
            if let Ok(Some(status)) = child.try_wait() {
                break Err(anyhow::anyhow!(
                    "{name}: the service exited with {status} before it was ready"
                ));
            }
            std::thread::sleep(POLL);
        };
        let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while child.try_wait()?.is_none() {
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let ready_after = outcome?;
        let first = first_connection.unwrap_or(ready_after);
        println!(
            "{name} {:.1} {:.1}",
            ready_after.as_secs_f64() * 1000.0,
            first.as_secs_f64() * 1000.0
        );
    }
    Ok(())
}
