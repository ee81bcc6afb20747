//! PostgreSQL for the campaign: its own database, and the crashes (`pg_ctlcluster … stop -m
//! immediate`) during the load, after which PostgreSQL always runs again.

use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use sqlx::{Connection, PgConnection};
use tokio::process::Command;

use crate::OUTAGE_GRACE;
use crate::load::Load;

pub async fn admin(postgres: &str) -> anyhow::Result<PgConnection> {
    PgConnection::connect(&format!("{postgres}/postgres"))
        .await
        .with_context(|| format!("PostgreSQL is not reachable at {postgres}"))
}

pub async fn create_database(postgres: &str, name: &str) -> anyhow::Result<()> {
    let mut conn = admin(postgres).await?;
    sqlx::query(&format!("CREATE DATABASE \"{name}\""))
        .execute(&mut conn)
        .await
        .with_context(|| format!("creating database {name}"))?;
    let _ = conn.close().await;
    Ok(())
}

pub async fn drop_database(postgres: &str, name: &str) -> anyhow::Result<()> {
    let mut conn = admin(postgres).await?;
    sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
        .execute(&mut conn)
        .await?;
    let _ = conn.close().await;
    Ok(())
}

/// Stops the local PostgreSQL cluster with `-m immediate` (what a crash of the server does to its
/// clients: every connection cut, nothing flushed that was not committed) and starts it again;
/// and makes sure it runs again whatever happens to the campaign.
pub struct Postgres {
    /// The admin URL (`<server>/postgres`), to see when it is back.
    url: String,
    /// `<version>`, `<name>` for pg_ctlcluster.
    pub cluster: (String, String),
    /// Outages: (stopped at, ready again at).
    windows: Mutex<Vec<(Instant, Option<Instant>)>>,
    /// Held for a whole crash (stop, down, start, ready).
    busy: tokio::sync::Mutex<()>,
    /// Set when the campaign ends: no crash starts any more.
    no_more: AtomicBool,
    pub crashes: AtomicU64,
    /// The campaign's own start, for the `t` of its lines.
    started: Instant,
}

impl Postgres {
    pub fn new(server: &str, cluster: Option<&str>, started: Instant) -> anyhow::Result<Self> {
        let cluster = match cluster {
            Some(c) => {
                let mut parts = c.split_whitespace();
                match (parts.next(), parts.next(), parts.next()) {
                    (Some(v), Some(n), None) => (v.to_owned(), n.to_owned()),
                    _ => bail!("--pg-cluster is `<version> <name>`, e.g. `15 main`, not {c:?}"),
                }
            }
            None => {
                let mut versions: Vec<String> = std::fs::read_dir("/etc/postgresql")
                    .context("no /etc/postgresql: give --pg-cluster, or --pg-crashes 0")?
                    .flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect();
                versions.sort();
                let version = versions
                    .into_iter()
                    .next()
                    .context("no cluster in /etc/postgresql: give --pg-cluster, or --pg-crashes 0")?;
                (version, "main".to_owned())
            }
        };
        Ok(Self {
            url: format!("{server}/postgres"),
            cluster,
            windows: Mutex::new(Vec::new()),
            busy: tokio::sync::Mutex::new(()),
            no_more: AtomicBool::new(false),
            crashes: AtomicU64::new(0),
            started,
        })
    }

    fn elapsed(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    fn windows(&self) -> std::sync::MutexGuard<'_, Vec<(Instant, Option<Instant>)>> {
        self.windows.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether PostgreSQL is down now (stopped by the campaign and not ready again).
    pub fn is_down(&self) -> bool {
        self.windows().last().is_some_and(|(_, end)| end.is_none())
    }

    /// Whether `at` falls in an outage, or within [`OUTAGE_GRACE`] after one.
    pub fn in_outage(&self, at: Instant) -> bool {
        self.windows()
            .iter()
            .any(|(from, to)| *from <= at && to.is_none_or(|to| at <= to + OUTAGE_GRACE))
    }

    async fn ctl(&self, args: &[&str]) -> anyhow::Result<()> {
        Self::run_ctl(self.cluster.clone(), args.iter().map(|a| (*a).to_owned()).collect()).await
    }

    async fn run_ctl(cluster: (String, String), args: Vec<String>) -> anyhow::Result<()> {
        let output = Command::new("pg_ctlcluster")
            .arg("--skip-systemctl-redirect")
            .arg(&cluster.0)
            .arg(&cluster.1)
            .args(&args)
            .stdin(Stdio::null())
            .output()
            .await
            .context("running pg_ctlcluster")?;
        if !output.status.success() {
            bail!(
                "pg_ctlcluster {} {} {}: {} {}",
                cluster.0,
                cluster.1,
                args.join(" "),
                output.status,
                String::from_utf8_lossy(&output.stderr)
                    .lines()
                    .next()
                    .unwrap_or("")
                    .trim()
            );
        }
        Ok(())
    }

    async fn answers(&self) -> bool {
        match tokio::time::timeout(Duration::from_secs(2), PgConnection::connect(&self.url)).await {
            Ok(Ok(conn)) => {
                let _ = conn.close().await;
                true
            }
            _ => false,
        }
    }

    /// Waits up to a minute for PostgreSQL to take connections.
    async fn wait_ready(&self) -> bool {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if self.answers().await {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        false
    }

    /// The connections of other databases than the campaign's that a crash would cut too.
    async fn others_connected(&self, own: &str) -> Vec<String> {
        let Ok(mut conn) = PgConnection::connect(&self.url).await else {
            return Vec::new();
        };
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT datname, count(*) FROM pg_stat_activity
             WHERE datname IS NOT NULL AND datname NOT IN ($1, 'postgres') AND pid <> pg_backend_pid()
             GROUP BY datname ORDER BY datname",
        )
        .bind(own)
        .fetch_all(&mut conn)
        .await
        .unwrap_or_default();
        let _ = conn.close().await;
        rows.into_iter().map(|(db, n)| format!("{db} ({n})")).collect()
    }

    /// One crash: stop `-m immediate`, stay down `down`, start, wait until ready. Whether it was done.
    pub async fn crash(&self, n: u32, of: u32, down: Duration, own_db: &str) -> anyhow::Result<bool> {
        let _busy = self.busy.lock().await;
        if self.no_more.load(Ordering::SeqCst) {
            return Ok(false);
        }
        let others = self.others_connected(own_db).await;
        if !others.is_empty() {
            println!(
                "[{:6.1}s] note: this crash also cuts connections to other databases: {}",
                self.elapsed(),
                others.join(", ")
            );
        }
        self.windows().push((Instant::now(), None));
        let stopped = self.ctl(&["stop", "-m", "immediate"]).await;
        if let Err(e) = &stopped {
            eprintln!("chaos: stopping PostgreSQL: {e:#}");
        } else {
            println!("[{:6.1}s] PostgreSQL stopped -m immediate ({n}/{of})", self.elapsed());
            tokio::time::sleep(down).await;
        }
        let result = self.start_and_wait().await;
        if let Some(last) = self.windows().last_mut() {
            last.1 = Some(Instant::now());
        }
        result?;
        stopped?;
        self.crashes.fetch_add(1, Ordering::SeqCst);
        println!("[{:6.1}s] PostgreSQL is back", self.elapsed());
        Ok(true)
    }

    async fn start_and_wait(&self) -> anyhow::Result<()> {
        // `start` refuses a running cluster; the check leaves only a race with someone else
        // starting it, which the wait covers. pg_ctlcluster's own readiness check can go on for
        // seconds after PostgreSQL takes connections (and then report a failure): PostgreSQL
        // counts as back as soon as it answers, and pg_ctlcluster is left to finish by itself.
        let start = if self.answers().await {
            None
        } else {
            Some(tokio::spawn(Self::run_ctl(
                self.cluster.clone(),
                vec!["start".to_owned()],
            )))
        };
        if self.wait_ready().await {
            return Ok(());
        }
        if let Some(Ok(Err(e))) = match start {
            Some(start) => Some(start.await),
            None => None,
        } {
            eprintln!("chaos: starting PostgreSQL: {e:#}");
        }
        bail!("PostgreSQL does not answer a minute after its start")
    }

    /// At the end, whatever happened: no crash any more, and PostgreSQL runs.
    pub async fn restore(&self) {
        self.no_more.store(true, Ordering::SeqCst);
        // Waits for a crash in progress to end (it starts PostgreSQL again itself).
        let _busy = self.busy.lock().await;
        if !self.answers().await {
            println!("starting PostgreSQL again");
            if let Err(e) = self.start_and_wait().await {
                eprintln!("chaos: PostgreSQL does not run again: {e:#}");
            }
        }
    }
}

/// Crashes PostgreSQL `count` times, spread over the load: the i-th once i/(count+1) of the
/// orders are answered (or the load is done).
pub async fn pg_crasher(pg: Arc<Postgres>, load: Arc<Load>, sales: usize, count: u32, down: Duration, own_db: String) {
    for i in 1..=count {
        let threshold = sales * i as usize / (count as usize + 1);
        while load.done.load(Ordering::Relaxed) < threshold && !load.finished.load(Ordering::Relaxed) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        match pg.crash(i, count, down, &own_db).await {
            Ok(true) => {}
            Ok(false) => return,
            Err(e) => {
                eprintln!("chaos: PostgreSQL crash {i}: {e:#}");
                return;
            }
        }
        // What the shop was told before the crash must read back the same after it.
        load.recheck_recent(200).await;
    }
}
