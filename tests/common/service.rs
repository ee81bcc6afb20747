//! The real `uitpas-checkout` binary as a child process, for tests that kill it or read its logs.

use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use uitpas_checkout::sandbox::RunningSandbox;

use super::{SHOP_KEY, TestDatabase};

/// The client secret the binary is started with (tests look for it in the logs).
pub const CLIENT_SECRET: &str = "process-test-client-secret";

/// One run of the binary.
pub struct Service {
    child: Child,
    pub addr: SocketAddr,
    /// Every line the process wrote on stdout and stderr, so far.
    pub output: Arc<Mutex<Vec<String>>>,
}

impl Service {
    /// Starts the binary against `sandbox` and `db`, with extra settings, and waits for its
    /// "listening" log line, which carries its address.
    pub async fn start(db: &TestDatabase, sandbox: &RunningSandbox, settings: &[(&str, &str)]) -> Service {
        Self::start_with_open_files(db, sandbox, settings, None).await
    }

    /// [`Service::start`], with at most `open_files` file descriptors (`ulimit -n`) when given.
    pub async fn start_with_open_files(
        db: &TestDatabase,
        sandbox: &RunningSandbox,
        settings: &[(&str, &str)],
        open_files: Option<u32>,
    ) -> Service {
        let url = sandbox.base_url();
        // UITPAS_CHECKOUT_BIN overrides the binary Cargo built: where checkouts share a target
        // directory, `target/debug/uitpas-checkout` is whichever of them linked it last.
        let binary =
            std::env::var("UITPAS_CHECKOUT_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_uitpas-checkout").into());
        let mut command = match open_files {
            // The shell lowers its own limit, then becomes the binary (same pid, same limit).
            Some(n) => {
                let mut c = Command::new("/bin/sh");
                c.args(["-c", &format!("ulimit -n {n} && exec \"$0\""), &binary]);
                c
            }
            None => Command::new(&binary),
        };
        command
            .env_clear()
            .env("LISTEN_ADDR", "127.0.0.1:0")
            .env("DATABASE_URL", &db.url)
            .env("UITPAS_BASE_URL", &url)
            .env("UITPAS_TOKEN_URL", format!("{url}/oauth/token"))
            .env("UITDATABANK_BASE_URL", &url)
            .env("UITPAS_CLIENT_ID", "process-test")
            .env("UITPAS_CLIENT_SECRET", CLIENT_SECRET)
            .env("SHOP_API_KEYS", SHOP_KEY)
            .env("UPSTREAM_TIMEOUT", "1s")
            .env("REPLAY_LEASE", "5s")
            .env("REPLAY_MAX_DELAY", "300ms")
            .env("REPLAY_POLL_INTERVAL", "100ms")
            .env("PUBLIC_RATE_LIMIT", "0")
            .env("LOG_FORMAT", "json")
            .env("RUST_LOG", "info");
        for (name, value) in settings {
            command.env(name, value);
        }
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("the binary starts");
        let output = Arc::new(Mutex::new(Vec::new()));
        let mut stderr = BufReader::new(child.stderr.take().unwrap()).lines();
        let errors = output.clone();
        tokio::spawn(async move {
            while let Ok(Some(line)) = stderr.next_line().await {
                errors.lock().unwrap().push(line);
            }
        });
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let seen = output.clone();
        let addr = tokio::time::timeout(Duration::from_secs(30), async {
            while let Some(line) = lines.next_line().await.unwrap() {
                seen.lock().unwrap().push(line.clone());
                let Ok(log) = serde_json::from_str::<Value>(&line) else {
                    continue;
                };
                if log["message"] == "uitpas-checkout listening" {
                    return log["addr"].as_str().unwrap().parse::<SocketAddr>().unwrap();
                }
            }
            panic!("the binary ended before listening: {:?}", seen.lock().unwrap());
        })
        .await
        .expect("the binary listens within 30 s");
        // Keep reading its output so that it never blocks on a full pipe.
        let rest = output.clone();
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                rest.lock().unwrap().push(line);
            }
        });
        Service { child, addr, output }
    }

    /// SIGKILL: no shutdown, no clean-up, whatever it was doing.
    pub async fn kill(mut self) {
        self.child.kill().await.expect("SIGKILL");
    }

    /// SIGTERM, then waits for the process to end; its exit status.
    pub async fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().expect("a running child") as i32;
        // tokio offers SIGKILL only; kill(1) sends the SIGTERM an orchestrator would.
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status();
        tokio::time::timeout(Duration::from_secs(30), self.child.wait())
            .await
            .expect("the binary stops within 30 s of SIGTERM")
            .expect("an exit status")
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Everything logged so far, one string.
    pub fn logs(&self) -> String {
        self.output.lock().unwrap().join("\n")
    }
}

/// Runs the binary with only `settings` in its environment (and a free port) until it exits, as a
/// mistaken first start does; its exit status and everything it wrote on stdout and stderr.
pub async fn run_to_exit(settings: &[(&str, &str)]) -> (std::process::ExitStatus, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_uitpas-checkout"));
    command.env_clear().env("LISTEN_ADDR", "127.0.0.1:0");
    for (name, value) in settings {
        command.env(name, value);
    }
    let run = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(30), run)
        .await
        .expect("the binary gives up within 30 s")
        .expect("the binary runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status, text)
}
