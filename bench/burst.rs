//! A burst of R truly concurrent `GET /v1/passes/{n}` over N distinct passes: R connections are
//! opened first, then every request is written at the same moment (a barrier), one per connection.
//! `bench/run` counts the upstream calls this caused with the sandbox's `/_sandbox/stats`.
//!
//! `cargo run --release --example bench-burst -- <host:port> <N passes> <R requests> <first pass index>`;
//! prints one JSON line: the statuses and the wall time. Needs `ulimit -n` above R.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Barrier;

/// The `n`-th synthetic pass (`0999…`, 12th digit even: an ACTIVE social tariff, Luhn check digit).
fn pass_number(n: u64) -> String {
    uitpas_checkout::sandbox::dataset::synthetic_active_pass(n)
}

fn arg(i: usize, name: &str) -> String {
    std::env::args().nth(i).unwrap_or_else(|| {
        panic!("usage: bench-burst <host:port> <N passes> <R requests> <first pass index> (missing {name})")
    })
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let addr = arg(1, "host:port");
    let passes: u64 = arg(2, "N").parse()?;
    let requests: usize = arg(3, "R").parse()?;
    let first: u64 = arg(4, "first pass index").parse()?;

    let mut streams = Vec::with_capacity(requests);
    for _ in 0..requests {
        let stream = TcpStream::connect(&addr).await?;
        stream.set_nodelay(true)?;
        streams.push(stream);
    }
    let barrier = Arc::new(Barrier::new(requests + 1));
    let mut tasks = Vec::with_capacity(requests);
    for (i, mut stream) in streams.into_iter().enumerate() {
        let barrier = barrier.clone();
        let number = pass_number(first + (i as u64 % passes));
        let request = format!("GET /v1/passes/{number} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            stream.write_all(request.as_bytes()).await?;
            let mut answer = Vec::new();
            stream.read_to_end(&mut answer).await?;
            let status = String::from_utf8_lossy(&answer)
                .split_whitespace()
                .nth(1)
                .unwrap_or("none")
                .to_owned();
            anyhow::Ok(status)
        }));
    }
    barrier.wait().await;
    let started = Instant::now();
    let mut statuses: BTreeMap<String, usize> = BTreeMap::new();
    for task in tasks {
        let status = match task.await? {
            Ok(s) => s,
            Err(e) => format!("error: {e}"),
        };
        *statuses.entry(status).or_default() += 1;
    }
    let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
    println!(
        "{{\"passes\":{passes},\"requests\":{requests},\"statuses\":{},\"elapsed_ms\":{elapsed_ms:.1}}}",
        serde_json::to_string(&statuses)?
    );
    Ok(())
}
