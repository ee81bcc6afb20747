//! The replicas: real `uitpas-checkout` processes on the campaign's database, started, SIGKILLed
//! and replaced, paused (SIGSTOP) and resumed (SIGCONT), each with its log in `chaos/logs/`.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::options::Options;
use crate::postgres::Postgres;
use crate::{OPERATOR_KEY, REPLAY_LEASE, SHOP_KEY, START_TIMEOUT, UPSTREAM_TIMEOUT, WEBHOOK_SECRET, WEBHOOK_TIMEOUT};

/// One running replica, listening.
pub struct Replica {
    child: Child,
    pub addr: SocketAddr,
}

/// The replicas: a slot each, `None` while (re)starting.
pub struct Fleet {
    pub binary: PathBuf,
    pub database_url: String,
    pub sandbox_url: String,
    /// The campaign's webhook receiver (the shop's backend).
    pub webhook_url: String,
    pub logs: PathBuf,
    pub slots: Mutex<Vec<Option<Replica>>>,
    pub stopping: AtomicBool,
    pub started: Instant,
    pub start_failures: AtomicU64,
    /// The replicas' SETTLE_WINDOW.
    pub settle_window: Duration,
    /// While PostgreSQL is down on purpose, no replica is started (it would fail to).
    pub pg: Option<Arc<Postgres>>,
    /// Replicas that ended without being killed by the campaign.
    pub exits: AtomicU64,
    /// The pauses (SIGSTOP), each with its replica's address and when it ended (SIGCONT; `None`
    /// while paused, or killed while paused).
    pauses: Mutex<Vec<(SocketAddr, Instant, Option<Instant>)>>,
    /// The replicas' WEBHOOK_MAX_ATTEMPTS.
    pub webhook_max_attempts: u32,
}

impl Fleet {
    /// The replicas of the campaign, none started yet.
    pub fn new(
        options: &Options,
        binary: PathBuf,
        database_url: &str,
        sandbox_url: &str,
        webhook_url: &str,
        started: Instant,
        pg: Option<Arc<Postgres>>,
    ) -> Self {
        Fleet {
            binary,
            database_url: database_url.to_owned(),
            sandbox_url: sandbox_url.to_owned(),
            webhook_url: webhook_url.to_owned(),
            logs: options.logs.clone(),
            slots: Mutex::new((0..options.replicas).map(|_| None).collect()),
            stopping: AtomicBool::new(false),
            started,
            start_failures: AtomicU64::new(0),
            settle_window: options.settle_window,
            pg,
            exits: AtomicU64::new(0),
            pauses: Mutex::new(Vec::new()),
            webhook_max_attempts: options.webhook_max_attempts,
        }
    }

    fn pauses_lock(&self) -> std::sync::MutexGuard<'_, Vec<(SocketAddr, Instant, Option<Instant>)>> {
        self.pauses.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether the replica at `addr` was paused at some time between `from` and `to`: a request
    /// in flight to it then waited through the pause.
    pub fn paused_between(&self, addr: SocketAddr, from: Instant, to: Instant) -> bool {
        self.pauses_lock()
            .iter()
            .any(|&(a, start, end)| a == addr && start <= to && end.is_none_or(|end| end >= from))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Option<Replica>>> {
        self.slots.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn elapsed(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    /// Appends a line of the campaign's own to a replica's log.
    fn note(&self, slot: usize, event: Value) {
        if let Ok(mut f) = self.log_file(slot) {
            let _ = writeln!(f, "{event}");
        }
    }

    fn log_file(&self, slot: usize) -> std::io::Result<File> {
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.logs.join(format!("replica-{slot}.log")))
    }

    /// Starts the binary for `slot` and waits for its listening line.
    async fn start(&self, slot: usize) -> anyhow::Result<Replica> {
        let log = self.log_file(slot).context("opening the replica log")?;
        self.note(slot, json!({"chaos": "starting", "slot": slot, "t": self.elapsed()}));
        let url = &self.sandbox_url;
        let mut child = Command::new(&self.binary)
            .env_clear()
            .env("LISTEN_ADDR", "127.0.0.1:0")
            .env("DATABASE_URL", &self.database_url)
            .env("UITPAS_BASE_URL", url)
            .env("UITDATABANK_BASE_URL", url)
            .env("UITPAS_TOKEN_URL", format!("{url}/oauth/token"))
            .env("UITPAS_CLIENT_ID", "chaos")
            .env("UITPAS_CLIENT_SECRET", "chaos-secret")
            .env("SHOP_API_KEYS", SHOP_KEY)
            .env("OPERATOR_KEYS", OPERATOR_KEY)
            .env("UPSTREAM_TIMEOUT", format!("{}ms", UPSTREAM_TIMEOUT.as_millis()))
            .env("REPLAY_LEASE", format!("{}ms", REPLAY_LEASE.as_millis()))
            .env("SETTLE_WINDOW", format!("{}ms", self.settle_window.as_millis()))
            .env("REPLAY_MAX_DELAY", "1s")
            .env("REPLAY_POLL_INTERVAL", "100ms")
            .env("PUBLIC_RATE_LIMIT", "0")
            .env("WEBHOOK_URL", &self.webhook_url)
            .env("WEBHOOK_SECRET", WEBHOOK_SECRET)
            .env("WEBHOOK_TIMEOUT", format!("{}ms", WEBHOOK_TIMEOUT.as_millis()))
            .env("WEBHOOK_MAX_ATTEMPTS", self.webhook_max_attempts.to_string())
            .env("LOG_FORMAT", "json")
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log.try_clone()?))
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", self.binary.display()))?;
        let pid = child.id();
        let stdout = child.stdout.take().context("the replica's stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let mut out = log;
        let addr = tokio::time::timeout(START_TIMEOUT, async {
            while let Some(line) = lines.next_line().await? {
                let _ = writeln!(out, "{line}");
                let Ok(entry) = serde_json::from_str::<Value>(&line) else {
                    continue;
                };
                if entry["message"] == "uitpas-checkout listening" {
                    let addr = entry["addr"].as_str().context("the listening line's addr")?;
                    return addr.parse::<SocketAddr>().context("the listening address");
                }
            }
            bail!("replica {slot} ended before listening (see its log)")
        })
        .await
        .with_context(|| format!("replica {slot} did not listen within {START_TIMEOUT:?}"))??;
        // Keep draining its output into the log so that it never blocks on a full pipe.
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                let _ = writeln!(out, "{line}");
            }
        });
        self.note(
            slot,
            json!({"chaos": "listening", "slot": slot, "pid": pid, "addr": addr.to_string(), "t": self.elapsed()}),
        );
        Ok(Replica { child, addr })
    }

    /// Starts `slot` (again), up to 5 tries; it becomes live once listening.
    pub async fn bring_up(&self, slot: usize) -> bool {
        for _ in 0..5 {
            if self.stopping.load(Ordering::SeqCst) {
                return false;
            }
            if let Some(pg) = &self.pg {
                let deadline = Instant::now() + Duration::from_secs(90);
                while pg.is_down() && Instant::now() < deadline && !self.stopping.load(Ordering::SeqCst) {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
            match self.start(slot).await {
                Ok(mut replica) => {
                    if self.stopping.load(Ordering::SeqCst) {
                        let _ = replica.child.kill().await;
                        return false;
                    }
                    self.lock()[slot] = Some(replica);
                    return true;
                }
                Err(e) => {
                    self.start_failures.fetch_add(1, Ordering::Relaxed);
                    eprintln!("chaos: replica {slot} failed to start: {e:#}");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
        false
    }

    /// The address of a random live replica, another than `avoid` when there is a choice.
    pub fn pick(&self, avoid: Option<SocketAddr>) -> Option<SocketAddr> {
        let slots = self.lock();
        let live: Vec<SocketAddr> = slots.iter().flatten().map(|r| r.addr).collect();
        let choice: Vec<SocketAddr> = if live.len() > 1 {
            live.iter().copied().filter(|a| Some(*a) != avoid).collect()
        } else {
            live
        };
        (!choice.is_empty()).then(|| choice[fastrand::usize(..choice.len())])
    }

    pub fn live(&self) -> usize {
        self.lock().iter().flatten().count()
    }

    /// Replicas that ended by themselves (not SIGKILLed by the campaign): their slots, emptied.
    pub fn reap_exited(&self) -> Vec<usize> {
        let mut ended = Vec::new();
        let mut slots = self.lock();
        for (slot, entry) in slots.iter_mut().enumerate() {
            let exited = entry
                .as_mut()
                .is_some_and(|r| matches!(r.child.try_wait(), Ok(Some(_)) | Err(_)));
            if exited {
                let status = entry.take().and_then(|mut r| r.child.try_wait().ok().flatten());
                self.exits.fetch_add(1, Ordering::Relaxed);
                ended.push(slot);
                self.note(
                    slot,
                    json!({"chaos": "exited by itself", "slot": slot, "status": format!("{status:?}"), "t": self.elapsed()}),
                );
            }
        }
        ended
    }

    /// SIGKILLs a random live replica; its slot, now empty, and whether the SIGKILL was sent
    /// (`None`: no replica is live).
    pub async fn kill_one(&self) -> Option<(usize, bool)> {
        let (slot, mut victim) = {
            let mut slots = self.lock();
            let live: Vec<usize> = (0..slots.len()).filter(|&i| slots[i].is_some()).collect();
            if live.is_empty() {
                return None;
            }
            let slot = live[fastrand::usize(..live.len())];
            (slot, slots[slot].take()?)
        };
        let pid = victim.child.id();
        if let Err(e) = victim.child.kill().await {
            eprintln!("chaos: SIGKILL of replica {slot} failed: {e}");
            return Some((slot, false));
        }
        self.note(
            slot,
            json!({"chaos": "SIGKILL", "slot": slot, "pid": pid, "t": self.elapsed()}),
        );
        Some((slot, true))
    }

    /// Pauses a random live replica with SIGSTOP: its slot and pid (`None`: none is live, or the
    /// signal could not be sent). It stays in its slot: requests sent to it wait, as they would
    /// behind a load balancer that has not noticed yet.
    pub async fn pause_one(&self) -> Option<(usize, u32)> {
        let (slot, pid, addr) = {
            let slots = self.lock();
            let live: Vec<(usize, u32, SocketAddr)> = slots
                .iter()
                .enumerate()
                .filter_map(|(slot, r)| {
                    let r = r.as_ref()?;
                    Some((slot, r.child.id()?, r.addr))
                })
                .collect();
            if live.is_empty() {
                return None;
            }
            live[fastrand::usize(..live.len())]
        };
        self.pauses_lock().push((addr, Instant::now(), None));
        if let Err(e) = send_signal(pid, "STOP").await {
            eprintln!("chaos: SIGSTOP of replica {slot} failed: {e:#}");
            self.pauses_lock().retain(|p| p.0 != addr || p.2.is_some());
            return None;
        }
        self.note(
            slot,
            json!({"chaos": "SIGSTOP", "slot": slot, "pid": pid, "t": self.elapsed()}),
        );
        Some((slot, pid))
    }

    /// Resumes a paused replica with SIGCONT, when it is still the one in its slot (it may have
    /// been SIGKILLed meanwhile).
    pub async fn resume(&self, slot: usize, pid: u32) {
        let still_there = self.lock()[slot].as_ref().and_then(|r| r.child.id()) == Some(pid);
        if !still_there {
            return;
        }
        let addr = self.lock()[slot].as_ref().map(|r| r.addr);
        let result = send_signal(pid, "CONT").await;
        if let Some(pause) = self
            .pauses_lock()
            .iter_mut()
            .find(|p| Some(p.0) == addr && p.2.is_none())
        {
            pause.2 = Some(Instant::now());
        }
        match result {
            Ok(()) => self.note(
                slot,
                json!({"chaos": "SIGCONT", "slot": slot, "pid": pid, "t": self.elapsed()}),
            ),
            Err(e) => eprintln!("chaos: SIGCONT of replica {slot} failed: {e:#}"),
        }
    }

    /// Stops everything: no replica is started any more, the live ones are killed.
    pub async fn kill_all(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        let replicas: Vec<Replica> = self.lock().iter_mut().filter_map(Option::take).collect();
        for mut r in replicas {
            let _ = r.child.kill().await;
        }
    }
}

pub fn default_binary() -> anyhow::Result<PathBuf> {
    // `<target>/<profile>/examples/chaos` → `<target>/<profile>/uitpas-checkout`
    let exe = std::env::current_exe().context("the example's own path")?;
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .context("the example is not in <target>/<profile>/examples")?;
    Ok(profile_dir.join(format!("uitpas-checkout{}", std::env::consts::EXE_SUFFIX)))
}

/// SIGKILLs a random live replica every `every` until `kills` are done, restarting each at once.
pub async fn killer(fleet: Arc<Fleet>, kills: u32, every: Duration, count: Arc<AtomicU64>) {
    // Bounded: a kill is skipped while no replica is live, but not for ever.
    let deadline = Instant::now() + every * kills + Duration::from_secs(120);
    let mut restarts = Vec::new();
    while count.load(Ordering::SeqCst) < u64::from(kills) && Instant::now() < deadline {
        tokio::time::sleep(every).await;
        let Some((slot, killed)) = fleet.kill_one().await else {
            continue;
        };
        if killed {
            let n = count.fetch_add(1, Ordering::SeqCst) + 1;
            println!("[{:6.1}s] SIGKILL replica {slot} ({n}/{kills})", fleet.elapsed());
        }
        // Its slot is empty either way: start a new replica in it.
        let fleet = fleet.clone();
        restarts.push(tokio::spawn(async move { fleet.bring_up(slot).await }));
    }
    for restart in restarts {
        let _ = restart.await;
    }
}

/// Pauses a random live replica `stops` times, for 1 s to `longest` each, one at a time,
/// `every` apart; resumes it at the end of each pause.
pub async fn stopper(fleet: Arc<Fleet>, stops: u32, every: Duration, longest: Duration, count: Arc<AtomicU64>) {
    // Bounded: a pause is skipped while no replica is live, but not for ever.
    let deadline = Instant::now() + (every + longest) * stops + Duration::from_secs(120);
    while count.load(Ordering::SeqCst) < u64::from(stops) && Instant::now() < deadline {
        tokio::time::sleep(every).await;
        let Some((slot, pid)) = fleet.pause_one().await else {
            continue;
        };
        let n = count.fetch_add(1, Ordering::SeqCst) + 1;
        let longest_ms = u64::try_from(longest.as_millis()).unwrap_or(u64::MAX).max(1000);
        let pause = Duration::from_millis(fastrand::u64(1000..=longest_ms));
        println!(
            "[{:6.1}s] SIGSTOP replica {slot} for {:.1} s ({n}/{stops})",
            fleet.elapsed(),
            pause.as_secs_f64()
        );
        tokio::time::sleep(pause).await;
        fleet.resume(slot, pid).await;
    }
}

/// Starts again, every 500 ms, the replicas that ended by themselves (which fails the verdict).
pub async fn watcher(fleet: Arc<Fleet>) {
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        for slot in fleet.reap_exited() {
            println!(
                "[{:6.1}s] replica {slot} ended by itself; starting it again",
                fleet.elapsed()
            );
            let fleet = fleet.clone();
            tokio::spawn(async move { fleet.bring_up(slot).await });
        }
    }
}

/// `kill -<signal> <pid>`.
async fn send_signal(pid: u32, signal: &str) -> anyhow::Result<()> {
    let status = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .stdin(Stdio::null())
        .status()
        .await
        .context("running kill")?;
    if !status.success() {
        bail!("kill -{signal} {pid}: {status}");
    }
    Ok(())
}
