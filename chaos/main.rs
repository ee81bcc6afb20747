//! The fault campaign: real `uitpas-checkout` replicas on one database, registering and cancelling
//! thousands of sales against a sandbox that fails, loses answers after committing, and whose
//! callers are SIGKILLed at random. At the end the shop's view, the ledger and UiTPAS's own ledger
//! must agree: nothing the shop was told about is lost, nothing is registered twice, every
//! cancellation is settled. See chaos/README.md; run it with `chaos/run`.

// The result block is one `json!` literal, deeper than the default limit allows.
#![recursion_limit = "256"]

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::{Connection, PgConnection, PgPool};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use uitpas_checkout::ledger::reconcile::{marker, marker_in};
use uitpas_checkout::sandbox::{self, RunningSandbox, SandboxConfig};

/// The shop's secret key, given to every replica.
const SHOP_KEY: &str = "chaos-shop-key-0123456789abcdef";
/// The console's operator key: set, so that no replica makes a development key and prints it
/// (a secret in the logs, and random hex that can look like a UiTPAS number to .ci/check-logs).
const OPERATOR_KEY: &str = "chaos-operator-key-0123456789abcdef";
const TEST_ORGANIZER: &str = "0ce87cbc-9299-4528-8d35-92225dc9489f";
const TARIFF: &str = "kansentarief-regio-gent";
/// Tries of one request (same key, same body) on the live replicas before giving up on it.
const MAX_TRIES: u32 = 200;
/// Times a cancellation answered 409 (not registered yet) is asked again, 200 ms apart.
const MAX_NOT_YET: u32 = 300;
/// How long a replica may take to print its listening line.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// Timeout of one request to a replica (its own upstream calls time out after 1 s).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);
/// The replicas' `UPSTREAM_TIMEOUT` and `REPLAY_LEASE`.
const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(1);
const REPLAY_LEASE: Duration = Duration::from_secs(4);
/// Timeout of one request of the other clients (the box office, the busy event's seller) to
/// UiTPAS: longer than any delay, so they always see the answer unless it is dropped.
const OTHERS_TIMEOUT: Duration = Duration::from_secs(30);
/// After PostgreSQL is back, how long a 5xx of the service still counts as caused by its outage.
const OUTAGE_GRACE: Duration = Duration::from_secs(5);
/// Tries of one request during PostgreSQL outages that do not count against `MAX_TRIES` (200 ms
/// apart: ten minutes).
const OUTAGE_TRIES: u32 = 3000;
/// The replicas' WEBHOOK_SECRET and WEBHOOK_TIMEOUT; how long the receiver hangs when it hangs
/// (longer than the timeout: the replica gives up and delivers the event again later).
const WEBHOOK_SECRET: &str = "chaos-webhook-secret-0123456789abcdef";
const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(1);
const WEBHOOK_HANG: Duration = Duration::from_millis(2500);
/// A hold's `expiresIn`, in seconds: short, so that holds expire during the load (and its kills).
const HOLD_EXPIRES_IN: std::ops::RangeInclusive<u64> = 2..=4;

/// The fault campaign of uitpas-checkout: replicas SIGKILLed under load while UiTPAS fails, then the
/// shop's answers, the ledger and UiTPAS compared (see chaos/README.md).
#[derive(Debug, Clone, Parser)]
#[command(name = "chaos")]
struct Options {
    /// Orders to register, one ticket each.
    #[arg(long, default_value_t = 10_000)]
    sales: usize,
    /// Orders in flight at once.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// UiTdatabank events created for the campaign; orders pick one at random.
    #[arg(long, default_value_t = 50)]
    events: usize,
    /// Replicas of the service running at once.
    #[arg(long, default_value_t = 3)]
    replicas: usize,
    /// SIGKILLs during the campaign, one replica at a time, each replaced at once.
    #[arg(long, default_value_t = 20)]
    kills: u32,
    /// Time between two kills (`1.5`, `1.5s`, `1500ms`).
    #[arg(long, default_value = "1.5s", value_parser = parse_duration)]
    kill_every: Duration,
    /// Chance that UiTPAS answers 503 to a registration or a cancellation, without doing it.
    #[arg(long, default_value_t = 0.3)]
    error_rate: f64,
    /// Chance that UiTPAS does a registration or a cancellation and then loses the answer.
    #[arg(long, default_value_t = 0.05)]
    drop_rate: f64,
    /// Chance that a registered (or pending) order's ticket sale is then cancelled.
    #[arg(long, default_value_t = 0.2)]
    cancel_rate: f64,
    /// Chance that an order is a hold before payment instead (`hold: {expiresIn: 2..4}`): then
    /// confirmed (half of them), released (a quarter) or left to expire (a quarter).
    #[arg(long, default_value_t = 0.2)]
    hold_rate: f64,
    /// Chance that the shop's webhook receiver answers a delivery 500 (while the faults last).
    #[arg(long, default_value_t = 0.2)]
    webhook_error_rate: f64,
    /// Chance that the webhook receiver hangs past WEBHOOK_TIMEOUT (1 s) before answering.
    #[arg(long, default_value_t = 0.1)]
    webhook_hang_rate: f64,
    /// Chance that UiTPAS holds a registration longer than UPSTREAM_TIMEOUT (1 s) and then carries
    /// it out, although the service gave up waiting.
    #[arg(long, default_value_t = 0.1)]
    delay_rate: f64,
    /// The longest of those delays; they are spread from just over UPSTREAM_TIMEOUT to this, so
    /// that some outlast REPLAY_LEASE (4 s). Must be shorter than --settle-window.
    #[arg(long, default_value = "6s", value_parser = parse_duration)]
    max_delay: Duration,
    /// How long the sandbox's access tokens live: short, so that the replicas fetch tokens often,
    /// also right before a registration's request (issue 27).
    #[arg(long, default_value = "3s", value_parser = parse_duration)]
    token_ttl: Duration,
    /// Chance that the token server answers late (by up to 90 % of UPSTREAM_TIMEOUT): a send then
    /// leaves that much after its attempt began, and its window must count from then.
    #[arg(long, default_value_t = 0.3)]
    token_delay_rate: f64,
    /// The replicas' SETTLE_WINDOW: longer than any delay, the rule's assumption (README, Exactly once).
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    settle_window: Duration,
    /// Chance that the box office (another UiTPAS client) sells the same pass, event, tariff and
    /// price as an order while that order waits (in flight, or answered 202).
    #[arg(long, default_value_t = 0.2)]
    box_office_rate: f64,
    /// Sales another client makes on the busy event (the first one) during the load, at least;
    /// 0: no busy event.
    #[arg(long, default_value_t = 600)]
    busy_sales: usize,
    /// Time between two sales on the busy event (it goes on until the load is done).
    #[arg(long, default_value = "20ms", value_parser = parse_duration)]
    busy_every: Duration,
    /// Times PostgreSQL itself is stopped with `-m immediate` (a crash) and started again during
    /// the load.
    #[arg(long, default_value_t = 2)]
    pg_crashes: u32,
    /// How long PostgreSQL stays down at each crash before it is started again.
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    pg_down: Duration,
    /// The local cluster that --postgres points at, as `<version> <name>` for pg_ctlcluster;
    /// default: the first version in /etc/postgresql, cluster main.
    #[arg(long)]
    pg_cluster: Option<String>,
    /// How long the ledger may take to settle once UiTPAS has recovered (`120s`, `2m`).
    #[arg(long, default_value = "120s", value_parser = parse_duration)]
    settle_timeout: Duration,
    /// The service binary; default: `uitpas-checkout` beside this example's profile directory.
    #[arg(long)]
    binary: Option<PathBuf>,
    /// The PostgreSQL server (trust auth); the campaign makes a database of its own on it.
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432")]
    postgres: String,
    /// Keep the campaign's database at the end (its name is printed).
    #[arg(long)]
    keep_db: bool,
    /// Where the replica logs and result.json go.
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/chaos/logs"))]
    logs: PathBuf,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (number, unit) = if let Some(n) = s.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = s.strip_suffix('m') {
        (n, 60.0)
    } else {
        (s, 1.0)
    };
    let value: f64 = number
        .trim()
        .parse()
        .map_err(|_| format!("not a duration: {s:?} (e.g. 1.5s, 1500ms, 2m)"))?;
    if !value.is_finite() || value < 0.0 {
        return Err(format!("not a duration: {s:?}"));
    }
    Ok(Duration::from_secs_f64(value * unit))
}

fn main() {
    let options = Options::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("chaos: cannot start a runtime: {e}");
            std::process::exit(2);
        }
    };
    let code = runtime.block_on(campaign(options));
    // Dropping the runtime drops every task, and with them any replica still starting
    // (`kill_on_drop`): nothing outlives the campaign.
    drop(runtime);
    std::process::exit(code);
}

/// Runs the campaign and cleans up; the exit code.
async fn campaign(options: Options) -> i32 {
    let started = Instant::now();
    print_header(&options);
    let sandbox = match sandbox::spawn(SandboxConfig {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        token_ttl: options.token_ttl,
    })
    .await
    {
        Ok(s) => s,
        Err(e) => {
            eprintln!("chaos: the sandbox does not start: {e}");
            return 2;
        }
    };
    let db_name = format!("chaos_{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    if let Err(e) = create_database(&options.postgres, &db_name).await {
        eprintln!("chaos: {e:#}");
        sandbox.shutdown().await;
        return 2;
    }
    println!("database    {db_name}");
    let pg = if options.pg_crashes > 0 {
        match Postgres::new(&options.postgres, options.pg_cluster.as_deref(), started) {
            Ok(pg) => {
                println!("postgres    cluster {} {}", pg.cluster.0, pg.cluster.1);
                Some(Arc::new(pg))
            }
            Err(e) => {
                eprintln!("chaos: {e:#}");
                sandbox.shutdown().await;
                let _ = drop_database(&options.postgres, &db_name).await;
                return 2;
            }
        }
    } else {
        None
    };
    let mut fleet_slot: Option<Arc<Fleet>> = None;
    let outcome = tokio::select! {
        r = run(&options, &sandbox, &db_name, &mut fleet_slot, pg.clone(), started) => r,
        Ok(()) = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted")),
        () = terminated() => Err(anyhow::anyhow!("terminated")),
    };
    // Whatever happened, PostgreSQL runs again before anything else.
    if let Some(pg) = &pg {
        pg.restore().await;
    }
    if let Some(fleet) = fleet_slot {
        fleet.kill_all().await;
    }
    sandbox.shutdown().await;
    if options.keep_db {
        println!("kept database {}/{db_name}", options.postgres);
    } else if let Err(e) = drop_database(&options.postgres, &db_name).await {
        eprintln!("chaos: could not drop database {db_name}: {e:#}");
    }
    println!("wall time   {:.1} s", started.elapsed().as_secs_f64());
    match outcome {
        Ok(true) => {
            println!("VERDICT: PASS");
            0
        }
        Ok(false) => {
            println!("VERDICT: FAIL");
            1
        }
        Err(e) => {
            eprintln!("chaos: the campaign could not run: {e:#}");
            2
        }
    }
}

/// SIGTERM (and SIGHUP): the campaign ends as on ctrl-c, cleaning up.
async fn terminated() {
    use tokio::signal::unix::{SignalKind, signal};
    match (signal(SignalKind::terminate()), signal(SignalKind::hangup())) {
        (Ok(mut term), Ok(mut hup)) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = hup.recv() => {}
            }
        }
        _ => std::future::pending().await,
    }
}

fn print_header(options: &Options) {
    let nproc = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!("== chaos: fault campaign of uitpas-checkout");
    println!(
        "date        {}",
        chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    );
    println!("machine     nproc={nproc}");
    println!(
        "options     sales={} concurrency={} events={} replicas={} kills={} kill-every={:?} error-rate={} drop-rate={} cancel-rate={} settle-timeout={:?}{}",
        options.sales,
        options.concurrency,
        options.events,
        options.replicas,
        options.kills,
        options.kill_every,
        options.error_rate,
        options.drop_rate,
        options.cancel_rate,
        options.settle_timeout,
        if options.keep_db { " keep-db" } else { "" }
    );
    println!(
        "            delay-rate={} max-delay={:?} token-ttl={:?} token-delay-rate={} settle-window={:?} box-office-rate={} busy-sales={} busy-every={:?} pg-crashes={} pg-down={:?}",
        options.delay_rate,
        options.max_delay,
        options.token_ttl,
        options.token_delay_rate,
        options.settle_window,
        options.box_office_rate,
        options.busy_sales,
        options.busy_every,
        options.pg_crashes,
        options.pg_down,
    );
    println!(
        "replicas    UPSTREAM_TIMEOUT={UPSTREAM_TIMEOUT:?} REPLAY_LEASE={REPLAY_LEASE:?} SETTLE_WINDOW={:?}",
        options.settle_window
    );
}

async fn admin(postgres: &str) -> anyhow::Result<PgConnection> {
    PgConnection::connect(&format!("{postgres}/postgres"))
        .await
        .with_context(|| format!("PostgreSQL is not reachable at {postgres}"))
}

async fn create_database(postgres: &str, name: &str) -> anyhow::Result<()> {
    let mut conn = admin(postgres).await?;
    sqlx::query(&format!("CREATE DATABASE \"{name}\""))
        .execute(&mut conn)
        .await
        .with_context(|| format!("creating database {name}"))?;
    let _ = conn.close().await;
    Ok(())
}

async fn drop_database(postgres: &str, name: &str) -> anyhow::Result<()> {
    let mut conn = admin(postgres).await?;
    sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
        .execute(&mut conn)
        .await?;
    let _ = conn.close().await;
    Ok(())
}

// --- PostgreSQL crashes ---

/// Stops the local PostgreSQL cluster with `-m immediate` (what a crash of the server does to its
/// clients: every connection cut, nothing flushed that was not committed) and starts it again;
/// and makes sure it runs again whatever happens to the campaign.
struct Postgres {
    /// The admin URL (`<server>/postgres`), to see when it is back.
    url: String,
    /// `<version>`, `<name>` for pg_ctlcluster.
    cluster: (String, String),
    /// Outages: (stopped at, ready again at).
    windows: Mutex<Vec<(Instant, Option<Instant>)>>,
    /// Held for a whole crash (stop, down, start, ready).
    busy: tokio::sync::Mutex<()>,
    /// Set when the campaign ends: no crash starts any more.
    no_more: AtomicBool,
    crashes: AtomicU64,
    /// The campaign's own start, for the `t` of its lines.
    started: Instant,
}

impl Postgres {
    fn new(server: &str, cluster: Option<&str>, started: Instant) -> anyhow::Result<Self> {
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
    fn is_down(&self) -> bool {
        self.windows().last().is_some_and(|(_, end)| end.is_none())
    }

    /// Whether `at` falls in an outage, or within [`OUTAGE_GRACE`] after one.
    fn in_outage(&self, at: Instant) -> bool {
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
    async fn crash(&self, n: u32, of: u32, down: Duration, own_db: &str) -> anyhow::Result<bool> {
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
    async fn restore(&self) {
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
async fn pg_crasher(pg: Arc<Postgres>, load: Arc<Load>, sales: usize, count: u32, down: Duration, own_db: String) {
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

// --- the shop's webhook receiver ---

/// The shop backend's webhook endpoint: verifies every delivery's signature and records the event
/// ids it accepted; while the faults last it answers 500 or hangs past WEBHOOK_TIMEOUT now and then.
struct Receiver {
    faulty: AtomicBool,
    error_rate: f64,
    hang_rate: f64,
    /// Event id → times accepted (a valid signature, answered 200 in time).
    accepted: Mutex<HashMap<String, u32>>,
    requests: AtomicU64,
    answered_500: AtomicU64,
    hung: AtomicU64,
    /// Deliveries whose signature (or `Webhook-Id`, or body) did not verify: answered 400.
    invalid: AtomicU64,
    invalid_examples: Mutex<Vec<String>>,
}

impl Receiver {
    fn new(error_rate: f64, hang_rate: f64) -> Self {
        Receiver {
            faulty: AtomicBool::new(true),
            error_rate,
            hang_rate,
            accepted: Mutex::new(HashMap::new()),
            requests: AtomicU64::new(0),
            answered_500: AtomicU64::new(0),
            hung: AtomicU64::new(0),
            invalid: AtomicU64::new(0),
            invalid_examples: Mutex::new(Vec::new()),
        }
    }

    fn accepted(&self) -> std::sync::MutexGuard<'_, HashMap<String, u32>> {
        self.accepted.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Listens on a free loopback port: `POST /webhooks`.
    async fn start(self: &Arc<Self>) -> anyhow::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
        let addr = listener.local_addr()?;
        let app = axum::Router::new()
            .route("/webhooks", axum::routing::post(receive_webhook))
            .with_state(self.clone());
        let task = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                eprintln!("chaos: the webhook receiver stopped: {e}");
            }
        });
        Ok((addr, task))
    }
}

/// Checks a delivery as a shop must: `Uitpas-Checkout-Signature: t=<t>,v1=<hex>` where one `v1`
/// is the HMAC-SHA256 of `"<t>.<raw body>"` with the secret, `t` recent, and `Webhook-Id` the
/// body's `id`. The event id.
fn verify_webhook(headers: &axum::http::HeaderMap, body: &[u8]) -> Result<String, String> {
    use hmac::Mac;
    let header = headers
        .get("uitpas-checkout-signature")
        .and_then(|v| v.to_str().ok())
        .ok_or("no Uitpas-Checkout-Signature header")?;
    let mut t = None;
    let mut v1 = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", value)) => t = Some(value),
            Some(("v1", value)) => v1.push(value),
            _ => {}
        }
    }
    let t = t.ok_or_else(|| format!("no t= in {header:?}"))?;
    let seconds: i64 = t.parse().map_err(|_| format!("t={t} is not a number"))?;
    if (chrono::Utc::now().timestamp() - seconds).abs() > 300 {
        return Err(format!("t={t} is more than 5 minutes off"));
    }
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(WEBHOOK_SECRET.as_bytes()).map_err(|e| e.to_string())?;
    mac.update(t.as_bytes());
    mac.update(b".");
    mac.update(body);
    let expected: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
    if !v1.iter().any(|v| *v == expected) {
        return Err(format!("no v1 in {header:?} matches"));
    }
    let value: Value = serde_json::from_slice(body).map_err(|e| format!("the body is not JSON: {e}"))?;
    let id = value["id"].as_str().ok_or("the body has no id")?;
    let header_id = headers.get("webhook-id").and_then(|v| v.to_str().ok());
    if header_id != Some(id) {
        return Err(format!("Webhook-Id {header_id:?} is not the body's id {id}"));
    }
    if value["type"].as_str().is_none_or(str::is_empty) {
        return Err(format!("event {id} has no type"));
    }
    Ok(id.to_owned())
}

async fn receive_webhook(
    axum::extract::State(receiver): axum::extract::State<Arc<Receiver>>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> axum::http::StatusCode {
    use axum::http::StatusCode as S;
    receiver.requests.fetch_add(1, Ordering::Relaxed);
    let id = match verify_webhook(&headers, &body) {
        Ok(id) => id,
        Err(why) => {
            receiver.invalid.fetch_add(1, Ordering::Relaxed);
            let mut examples = receiver.invalid_examples.lock().unwrap_or_else(|e| e.into_inner());
            if examples.len() < 20 {
                eprintln!("chaos: webhook refused: {why}");
                examples.push(why);
            }
            return S::BAD_REQUEST;
        }
    };
    if receiver.faulty.load(Ordering::SeqCst) {
        let roll = fastrand::f64();
        if roll < receiver.error_rate {
            receiver.answered_500.fetch_add(1, Ordering::Relaxed);
            return S::INTERNAL_SERVER_ERROR;
        }
        if roll < receiver.error_rate + receiver.hang_rate {
            // Past WEBHOOK_TIMEOUT: the replica gave up, so this one does not count as received.
            receiver.hung.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(WEBHOOK_HANG).await;
            return S::OK;
        }
    }
    *receiver.accepted().entry(id).or_insert(0) += 1;
    S::OK
}

// --- the replicas ---

/// One running replica, listening.
struct Replica {
    child: Child,
    addr: SocketAddr,
}

/// The replicas: a slot each, `None` while (re)starting.
struct Fleet {
    binary: PathBuf,
    database_url: String,
    sandbox_url: String,
    /// The campaign's webhook receiver (the shop's backend).
    webhook_url: String,
    logs: PathBuf,
    slots: Mutex<Vec<Option<Replica>>>,
    stopping: AtomicBool,
    started: Instant,
    start_failures: AtomicU64,
    /// The replicas' SETTLE_WINDOW.
    settle_window: Duration,
    /// While PostgreSQL is down on purpose, no replica is started (it would fail to).
    pg: Option<Arc<Postgres>>,
    /// Replicas that ended without being killed by the campaign.
    exits: AtomicU64,
}

impl Fleet {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Option<Replica>>> {
        self.slots.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn elapsed(&self) -> f64 {
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
    async fn bring_up(&self, slot: usize) -> bool {
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
    fn pick(&self, avoid: Option<SocketAddr>) -> Option<SocketAddr> {
        let slots = self.lock();
        let live: Vec<SocketAddr> = slots.iter().flatten().map(|r| r.addr).collect();
        let choice: Vec<SocketAddr> = if live.len() > 1 {
            live.iter().copied().filter(|a| Some(*a) != avoid).collect()
        } else {
            live
        };
        (!choice.is_empty()).then(|| choice[fastrand::usize(..choice.len())])
    }

    fn live(&self) -> usize {
        self.lock().iter().flatten().count()
    }

    /// Replicas that ended by themselves (not SIGKILLed by the campaign): their slots, emptied.
    fn reap_exited(&self) -> Vec<usize> {
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
    async fn kill_one(&self) -> Option<(usize, bool)> {
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

    /// Stops everything: no replica is started any more, the live ones are killed.
    async fn kill_all(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        let replicas: Vec<Replica> = self.lock().iter_mut().filter_map(Option::take).collect();
        for mut r in replicas {
            let _ = r.child.kill().await;
        }
    }
}

fn default_binary() -> anyhow::Result<PathBuf> {
    // `<target>/<profile>/examples/chaos` → `<target>/<profile>/uitpas-checkout`
    let exe = std::env::current_exe().context("the example's own path")?;
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .context("the example is not in <target>/<profile>/examples")?;
    Ok(profile_dir.join(format!("uitpas-checkout{}", std::env::consts::EXE_SUFFIX)))
}

// --- the sandbox ---

/// A token of the sandbox's token server for the given client.
async fn sandbox_token(http: &reqwest::Client, base: &str, client_id: &str, secret: &str) -> anyhow::Result<String> {
    let token: Value = http
        .post(format!("{base}/oauth/token"))
        .json(&json!({
            "client_id": client_id,
            "client_secret": secret,
            "audience": "https://api.publiq.be",
            "grant_type": "client_credentials",
        }))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    Ok(token["access_token"].as_str().context("an access token")?.to_owned())
}

async fn create_events(http: &reqwest::Client, base: &str, count: usize) -> anyhow::Result<Vec<String>> {
    let token = sandbox_token(http, base, "chaos", "chaos-secret").await?;
    let mut events = Vec::with_capacity(count);
    for i in 0..count {
        let body = json!({
            "mainLanguage": "nl",
            "name": {"nl": format!("Chaos {i}")},
            "calendarType": "permanent",
            "location": {"@id": format!("https://io-test.uitdatabank.be/places/{}", uuid::Uuid::new_v4())},
            "organizer": {"@id": format!("https://io-test.uitdatabank.be/organizers/{TEST_ORGANIZER}")},
            "terms": [{"id": "0.50.4.0.0", "domain": "eventtype"}],
            "priceInfo": [{"category": "base", "price": 10, "priceCurrency": "EUR"}],
        });
        let response = http
            .post(format!("{base}/events"))
            .bearer_auth(&token)
            .json(&body)
            .send()
            .await?;
        let status = response.status();
        let answer: Value = response.json().await.unwrap_or(Value::Null);
        if status != StatusCode::CREATED {
            bail!("POST /events answered {status}: {answer}");
        }
        events.push(answer["id"].as_str().context("the new event's id")?.to_owned());
    }
    Ok(events)
}

async fn set_faults(http: &reqwest::Client, base: &str, options: &Options) -> anyhow::Result<()> {
    let mut faults = Vec::new();
    for operation in ["post-ticket-sales", "delete-ticket-sales"] {
        faults.push(json!({"operation": operation, "mode": "error", "status": 503, "probability": options.error_rate}));
        faults.push(json!({"operation": operation, "mode": "drop-after-commit", "probability": options.drop_rate}));
    }
    faults.push(json!({"operation": "get-ticket-sales", "mode": "error", "status": 503, "probability": 0.1}));
    if options.delay_rate > 0.0 {
        faults.push(delay_fault(options));
    }
    if options.token_delay_rate > 0.0 {
        faults.push(token_delay_fault(options));
    }
    for fault in faults {
        let response = http.put(format!("{base}/_sandbox/faults")).json(&fault).send().await?;
        if !response.status().is_success() {
            bail!(
                "the sandbox refused the fault {fault}: {} {}",
                response.status(),
                response.text().await.unwrap_or_default()
            );
        }
    }
    Ok(())
}

/// A delay of `post-ticket-sales`, drawn between just over UPSTREAM_TIMEOUT and --max-delay (the
/// sandbox holds one delay per operation: [`rotate_delays`] draws a new one now and then).
fn delay_fault(options: &Options) -> Value {
    let low = (UPSTREAM_TIMEOUT + Duration::from_millis(200)).as_millis() as u64;
    let high = (options.max_delay.as_millis() as u64).max(low);
    json!({
        "operation": "post-ticket-sales",
        "mode": "delay",
        "delayMs": fastrand::u64(low..=high),
        "probability": options.delay_rate,
    })
}

/// A late answer of the token server, drawn up to 90 % of UPSTREAM_TIMEOUT (so that the fetch
/// itself succeeds and the request leaves late).
fn token_delay_fault(options: &Options) -> Value {
    let high = (UPSTREAM_TIMEOUT.as_millis() as u64) * 9 / 10;
    json!({
        "operation": "post-oauth-token",
        "mode": "delay",
        "delayMs": fastrand::u64(high / 4..=high),
        "probability": options.token_delay_rate,
    })
}

/// Draws new delays every 200 ms, so that the delayed registrations (and token fetches) spread
/// over the whole range.
async fn rotate_delays(http: reqwest::Client, base: String, options: Options) {
    loop {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let mut faults = Vec::new();
        if options.delay_rate > 0.0 {
            faults.push(delay_fault(&options));
        }
        if options.token_delay_rate > 0.0 {
            faults.push(token_delay_fault(&options));
        }
        for fault in faults {
            let _ = http.put(format!("{base}/_sandbox/faults")).json(&fault).send().await;
        }
    }
}

/// Every active sale of the events as UiTPAS lists them (`GET /ticket-sales`, every page), with
/// its label: id → (event, label).
async fn active_sales(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    events: &[String],
) -> anyhow::Result<HashMap<String, (String, Option<String>)>> {
    let mut sales = HashMap::new();
    for event in events {
        let mut start = 0;
        loop {
            let page: Value = http
                .get(format!("{base}/ticket-sales"))
                .query(&[
                    ("eventId", event.as_str()),
                    ("start", &start.to_string()),
                    ("limit", "500"),
                ])
                .bearer_auth(token)
                .send()
                .await?
                .error_for_status()?
                .json()
                .await?;
            let members = page["member"].as_array().context("a page of ticket sales")?;
            for m in members {
                if let Some(id) = m["id"].as_str() {
                    let label = m["regularPriceLabel"].as_str().map(str::to_owned);
                    sales.insert(id.to_owned(), (event.clone(), label));
                }
            }
            start += members.len();
            if members.is_empty() || start as u64 >= page["totalItems"].as_u64().unwrap_or(0) {
                break;
            }
        }
    }
    Ok(sales)
}

// --- the other clients of UiTPAS ---

/// Who, besides the service, sells at UiTPAS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Seller {
    /// The box office: the same passes, events, tariff and price as orders that wait.
    BoxOffice,
    /// The seller of the busy event: a steady stream of sales on one event.
    Busy,
}

impl Seller {
    fn label_prefix(self) -> &'static str {
        match self {
            Seller::BoxOffice => "kassa",
            Seller::Busy => "drukte",
        }
    }
}

/// Other UiTPAS clients (own client credentials, own token), selling directly at
/// `POST /ticket-sales`. Each sale carries a label of its own (never one of the service's
/// markers), so that a sale whose answer was lost can be found again.
struct Others {
    http: reqwest::Client,
    base: String,
    token: tokio::sync::Mutex<String>,
    run_id: String,
    next: AtomicU64,
    /// UiTPAS id → who sold it.
    ids: Mutex<HashMap<String, Seller>>,
    refused: Mutex<BTreeMap<String, u64>>,
    lost_answers: AtomicU64,
    gave_up: AtomicU64,
}

impl Others {
    async fn new(base: &str) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder().timeout(OTHERS_TIMEOUT).build()?;
        let token = sandbox_token(&http, base, "chaos-box-office", "chaos-box-office-secret").await?;
        Ok(Self {
            http,
            base: base.to_owned(),
            token: tokio::sync::Mutex::new(token),
            run_id: uuid::Uuid::new_v4().simple().to_string()[..8].to_owned(),
            next: AtomicU64::new(0),
            ids: Mutex::new(HashMap::new()),
            refused: Mutex::new(BTreeMap::new()),
            lost_answers: AtomicU64::new(0),
            gave_up: AtomicU64::new(0),
        })
    }

    fn ids(&self) -> std::sync::MutexGuard<'_, HashMap<String, Seller>> {
        self.ids.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn count(&self, who: Seller) -> usize {
        self.ids().values().filter(|s| **s == who).count()
    }

    async fn token(&self) -> String {
        self.token.lock().await.clone()
    }

    async fn renew_token(&self) {
        if let Ok(t) = sandbox_token(&self.http, &self.base, "chaos-box-office", "chaos-box-office-secret").await {
            *self.token.lock().await = t;
        }
    }

    /// Sells one ticket of `pass` for `event` at the tariff and price of the orders, until
    /// UiTPAS answers (a 503 is tried again; a lost answer is looked up by the sale's label).
    async fn sell(&self, who: Seller, event: &str, pass: &str) {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let label = format!("{} {}-{n}", who.label_prefix(), self.run_id);
        let body = json!([{
            "uitpasNumber": pass,
            "eventId": event,
            "tariff": {"id": TARIFF},
            "regularPrice": 10,
            "regularPriceLabel": label,
        }]);
        for attempt in 0..50u64 {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(50 * attempt.min(10))).await;
            }
            let token = self.token().await;
            let response = self
                .http
                .post(format!("{}/ticket-sales", self.base))
                .bearer_auth(&token)
                .json(&body)
                .send()
                .await;
            let response = match response {
                Ok(r) => r,
                Err(_) => {
                    // No answer: did UiTPAS make the sale? Look for its label.
                    self.lost_answers.fetch_add(1, Ordering::Relaxed);
                    match self.find(event, &label).await {
                        Some(ids) if !ids.is_empty() => {
                            self.ids().extend(ids.into_iter().map(|id| (id, who)));
                            return;
                        }
                        _ => continue,
                    }
                }
            };
            let status = response.status();
            let answer: Value = response.json().await.unwrap_or(Value::Null);
            if status.is_success() {
                let mut ids = self.ids();
                for sale in answer.as_array().into_iter().flatten() {
                    if let Some(id) = sale["id"].as_str() {
                        ids.insert(id.to_owned(), who);
                    }
                }
                return;
            }
            if status == StatusCode::UNAUTHORIZED {
                self.renew_token().await;
                continue;
            }
            if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
                continue;
            }
            let kind = answer["type"].as_str().unwrap_or("(no problem type)");
            let mut refused = self.refused.lock().unwrap_or_else(|e| e.into_inner());
            *refused.entry(format!("{status} {kind}")).or_insert(0) += 1;
            return;
        }
        self.gave_up.fetch_add(1, Ordering::Relaxed);
        eprintln!("chaos: the {who:?} seller gave up on {label}");
    }

    /// The ids of the event's active sales carrying `label`; `None` when the list cannot be read.
    async fn find(&self, event: &str, label: &str) -> Option<Vec<String>> {
        for _ in 0..20 {
            let token = self.token().await;
            match active_sales(&self.http, &self.base, &token, &[event.to_owned()]).await {
                Ok(sales) => {
                    return Some(
                        sales
                            .into_iter()
                            .filter(|(_, (_, l))| l.as_deref() == Some(label))
                            .map(|(id, _)| id)
                            .collect(),
                    );
                }
                // get-ticket-sales fails one time in ten.
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
        None
    }
}

/// The busy event's seller: a sale on `event` every `every`, each for a pass of its own (so that
/// no limit of UiTPAS is reached), until the load is done and at least `min` were made.
async fn busy_seller(others: Arc<Others>, load: Arc<Load>, event: String, every: Duration, min: usize) {
    let in_flight = Arc::new(tokio::sync::Semaphore::new(32));
    let mut n = 0u64;
    let mut tasks = tokio::task::JoinSet::new();
    loop {
        let made = others.count(Seller::Busy);
        if load.finished.load(Ordering::Relaxed) && made >= min {
            break;
        }
        // Bounded: once the load is done, give up after three times `min` tries without reaching it.
        if load.finished.load(Ordering::Relaxed) && n > (min as u64) * 3 {
            break;
        }
        let Ok(permit) = in_flight.clone().acquire_owned().await else {
            break;
        };
        let (others, event) = (others.clone(), event.clone());
        let pass = uitpas_checkout::sandbox::dataset::synthetic_active_pass(5_000_000 + n);
        n += 1;
        tasks.spawn(async move {
            others.sell(Seller::Busy, &event, &pass).await;
            drop(permit);
        });
        while tasks.try_join_next().is_some() {}
        tokio::time::sleep(every).await;
    }
    while tasks.join_next().await.is_some() {}
}

/// Synthetic passes of the sandbox: `0999…`, Luhn-valid, 12th digit even = social tariff ACTIVE.
fn synthetic_active(n: usize) -> String {
    uitpas_checkout::sandbox::dataset::synthetic_active_pass(n as u64)
}

// --- the load ---

/// What the shop was told about an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Told {
    Registered,
    Pending,
    Rejected,
    /// No final answer within the bounded retries.
    Unanswered,
}

/// What became of an order's cancellation, seen from the shop.
#[derive(Debug, Clone, PartialEq, Eq)]
enum CancelRecord {
    NotAsked,
    /// The service took it: 204 (cancelled) or 202 (cancelling).
    Made(u16),
    /// Still 409 (not registered) after every try.
    GaveUp,
    /// Another 4xx.
    Refused(u16, String),
    /// No final answer within the bounded retries.
    Unanswered,
}

#[derive(Debug, Clone)]
struct OrderRecord {
    key: String,
    told: Told,
    problem: Option<String>,
    /// The ledger's ticket-sale id, from a 201 or 202.
    sale_id: Option<String>,
    /// The UiTPAS id a 201 carried.
    told_uitpas_id: Option<String>,
    cancel: CancelRecord,
}

/// What the shop does with a hold after the "payment".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HoldFate {
    /// Paid: confirm it (now and then right around its expiry, racing the worker).
    Confirm,
    /// Payment failed: release it.
    Release,
    /// The buyer walked away: nothing, it expires.
    Expire,
}

/// What the confirm or the release of a hold answered.
#[derive(Debug, Clone, PartialEq, Eq)]
enum HoldAnswer {
    NotAsked,
    /// 200 on confirm: the registration's status and its (ledger id, UiTPAS id) sales.
    Confirmed {
        status: String,
        sales: Vec<(String, Option<String>)>,
    },
    /// 200 on release.
    Released,
    /// Another answer (409 `hold-expired`, …): the status and problem type.
    Refused(u16, String),
    /// No final answer within the bounded retries.
    Unanswered,
}

#[derive(Debug, Clone)]
struct HoldRecord {
    key: String,
    fate: HoldFate,
    expires_in: u64,
    /// 201 (held) or 202 (pending) on `POST /v1/registrations`, a 4xx, or nothing.
    told: Told,
    problem: Option<String>,
    registration_id: Option<String>,
    answer: HoldAnswer,
}

/// What an order answered 201 told the shop: read back later, it must never read as less.
#[derive(Debug, Clone)]
struct ToldRegistered {
    key: String,
    registration_id: String,
    /// (ledger ticket-sale id, UiTPAS id), as in the 201.
    sales: Vec<(String, Option<String>)>,
}

/// What every load task shares.
struct Load {
    http: reqwest::Client,
    fleet: Arc<Fleet>,
    run_id: String,
    events: Vec<String>,
    passes: Vec<String>,
    cancel_rate: f64,
    hold_rate: f64,
    /// Holds made (answered 201 or 202), confirmed (200) and released (200).
    holds: AtomicUsize,
    holds_confirmed: AtomicUsize,
    holds_released: AtomicUsize,
    next: AtomicUsize,
    done: AtomicUsize,
    registered: AtomicUsize,
    pending: AtomicUsize,
    rejected: AtomicUsize,
    cancels: AtomicUsize,
    retries: AtomicU64,
    /// Requests to a replica in flight now.
    in_flight: AtomicUsize,
    /// Requests that got no answer (connection refused or reset, timeout): what kills cause.
    connection_errors: AtomicU64,
    /// 5xx answers of the service, by `METHOD route status problem-type`: none is expected, as
    /// an outage of UiTPAS is answered 202 on both shop endpoints.
    server_errors: Mutex<BTreeMap<String, u64>>,
    /// The same, while PostgreSQL was down (or within [`OUTAGE_GRACE`] of its return): expected.
    outage_errors: Mutex<BTreeMap<String, u64>>,
    /// Set once every order has been answered.
    finished: AtomicBool,
    others: Option<Arc<Others>>,
    box_office_rate: f64,
    pg: Option<Arc<Postgres>>,
    /// Every order answered 201, in the order of the answers.
    told: Mutex<Vec<ToldRegistered>>,
    /// Read-backs of what was told: done, and those that read less (with examples).
    rereads: AtomicU64,
    ids_changed: Mutex<Vec<String>>,
    ids_changed_keys: Mutex<HashSet<String>>,
    rereads_unanswered: AtomicU64,
}

enum Answer {
    Final(u16, Value),
    Unanswered(String),
}

impl Load {
    /// Sends one request to a random live replica; on a connection error or a 5xx, the same
    /// request again on another one, after a short pause, at most `MAX_TRIES` times. Tries while
    /// PostgreSQL is down on purpose (its crash recovery can take tens of seconds) do not count,
    /// up to [`OUTAGE_TRIES`] of them.
    async fn send(&self, method: Method, path: &str, key: Option<&str>, body: Option<&Value>) -> Answer {
        let mut last = None;
        let mut why = String::from("no live replica");
        let (mut attempt, mut outage_tries) = (0u32, 0u32);
        let mut first = true;
        loop {
            if !first {
                self.retries.fetch_add(1, Ordering::Relaxed);
                let down = self.pg.as_ref().is_some_and(|pg| pg.in_outage(Instant::now()));
                if down && outage_tries < OUTAGE_TRIES {
                    outage_tries += 1;
                } else {
                    attempt += 1;
                }
                if attempt >= MAX_TRIES {
                    break;
                }
                let pause = if down { 200 } else { 20 * u64::from(attempt.min(10)) };
                tokio::time::sleep(Duration::from_millis(pause)).await;
            }
            first = false;
            let Some(addr) = self.fleet.pick(last) else {
                why = "no live replica".into();
                continue;
            };
            last = Some(addr);
            let mut request = self
                .http
                .request(method.clone(), format!("http://{addr}{path}"))
                .bearer_auth(SHOP_KEY);
            if let Some(key) = key {
                request = request.header("idempotency-key", key);
            }
            if let Some(body) = body {
                request = request.json(body);
            }
            self.in_flight.fetch_add(1, Ordering::Relaxed);
            let answer = match request.send().await {
                Ok(response) => {
                    let status = response.status().as_u16();
                    response.bytes().await.map(|b| (status, b))
                }
                Err(e) => Err(e),
            };
            self.in_flight.fetch_sub(1, Ordering::Relaxed);
            let (status, bytes) = match answer {
                Ok(a) => a,
                Err(e) => {
                    self.connection_errors.fetch_add(1, Ordering::Relaxed);
                    why = format!("{addr}: {e}");
                    continue;
                }
            };
            if status >= 500 {
                let during_outage = self.pg.as_ref().is_some_and(|pg| pg.in_outage(Instant::now()));
                why = format!("{addr}: {status} {}", String::from_utf8_lossy(&bytes));
                let kind = serde_json::from_slice::<Value>(&bytes)
                    .ok()
                    .and_then(|v| v["type"].as_str().map(str::to_owned))
                    .unwrap_or_else(|| "(no problem type)".to_owned());
                let route = if path.starts_with("/v1/ticket-sales/") {
                    "/v1/ticket-sales/{id}"
                } else {
                    path
                };
                let route = if path.starts_with("/v1/registrations/") {
                    "/v1/registrations/{id}"
                } else {
                    route
                };
                let errors = if during_outage {
                    &self.outage_errors
                } else {
                    &self.server_errors
                };
                let mut errors = errors.lock().unwrap_or_else(|e| e.into_inner());
                *errors.entry(format!("{method} {route} {status} {kind}")).or_insert(0) += 1;
                continue;
            }
            let value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            return Answer::Final(status, value);
        }
        Answer::Unanswered(why)
    }

    async fn order(&self, i: usize) -> OrderRecord {
        let key = format!("chaos-{}-{i}", self.run_id);
        let event = self.events[fastrand::usize(..self.events.len())].clone();
        let pass = self.passes[fastrand::usize(..self.passes.len())].clone();
        let body = json!({
            "orderId": format!("order-{}-{i}", self.run_id),
            "tickets": [{
                "eventId": event,
                "uitpasNumber": pass,
                "tariffId": TARIFF,
                "regularPrice": 10,
                "quantity": 1,
            }],
        });
        // The box office sells the same line while the order is in flight…
        let box_office = self.others.clone().filter(|_| fastrand::f64() < self.box_office_rate);
        let mut box_office_sales = Vec::new();
        box_office_sales.extend(box_office.clone().map(|others| {
            let (event, pass) = (event.clone(), pass.clone());
            tokio::spawn(async move {
                // Land within the order's own call to UiTPAS, or just after it.
                tokio::time::sleep(Duration::from_millis(fastrand::u64(0..1500))).await;
                others.sell(Seller::BoxOffice, &event, &pass).await;
            })
        }));
        let mut record = OrderRecord {
            key: key.clone(),
            told: Told::Unanswered,
            problem: None,
            sale_id: None,
            told_uitpas_id: None,
            cancel: CancelRecord::NotAsked,
        };
        match self
            .send(Method::POST, "/v1/registrations", Some(&key), Some(&body))
            .await
        {
            Answer::Final(status @ (201 | 202), answer) => {
                let sale = &answer["ticketSales"][0];
                record.sale_id = sale["id"].as_str().map(str::to_owned);
                if status == 201 {
                    record.told = Told::Registered;
                    record.told_uitpas_id = sale["uitpasTicketSaleId"].as_str().map(str::to_owned);
                    self.registered.fetch_add(1, Ordering::Relaxed);
                    let told = ToldRegistered {
                        key: key.clone(),
                        registration_id: answer["id"].as_str().unwrap_or_default().to_owned(),
                        sales: answer["ticketSales"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .map(|s| {
                                (
                                    s["id"].as_str().unwrap_or_default().to_owned(),
                                    s["uitpasTicketSaleId"].as_str().map(str::to_owned),
                                )
                            })
                            .collect(),
                    };
                    self.told.lock().unwrap_or_else(|e| e.into_inner()).push(told);
                } else {
                    record.told = Told::Pending;
                    self.pending.fetch_add(1, Ordering::Relaxed);
                    // …and again while it waits for the worker.
                    if let Some(others) = box_office.clone() {
                        let (event, pass) = (event.clone(), pass.clone());
                        box_office_sales.push(tokio::spawn(async move {
                            others.sell(Seller::BoxOffice, &event, &pass).await;
                        }));
                    }
                }
            }
            Answer::Final(status, answer) => {
                record.told = Told::Rejected;
                let kind = answer["type"].as_str().unwrap_or("(no problem type)");
                record.problem = Some(format!("{status} {kind}"));
                self.rejected.fetch_add(1, Ordering::Relaxed);
            }
            Answer::Unanswered(why) => {
                eprintln!("chaos: order {key} got no answer after {MAX_TRIES} tries: {why}");
            }
        }
        for sale in box_office_sales {
            let _ = sale.await;
        }
        if let Some(sale_id) = record.sale_id.clone()
            && fastrand::f64() < self.cancel_rate
        {
            record.cancel = self.cancel(&sale_id).await;
            if matches!(record.cancel, CancelRecord::Made(_)) {
                self.cancels.fetch_add(1, Ordering::Relaxed);
            }
        }
        record
    }

    /// A hold before payment: registered now with a short `expiresIn`, then, after the
    /// "payment", confirmed or released, or left to expire (see [`HoldFate`]). Confirm and
    /// release are retried like orders: on a connection error or a 5xx, the same request to
    /// another replica.
    async fn hold(&self, i: usize) -> HoldRecord {
        let key = format!("chaos-{}-{i}", self.run_id);
        let event = self.events[fastrand::usize(..self.events.len())].clone();
        let pass = self.passes[fastrand::usize(..self.passes.len())].clone();
        let expires_in = fastrand::u64(HOLD_EXPIRES_IN);
        let fate = match fastrand::u32(0..4) {
            0 | 1 => HoldFate::Confirm,
            2 => HoldFate::Release,
            _ => HoldFate::Expire,
        };
        let body = json!({
            "orderId": format!("order-{}-{i}", self.run_id),
            "hold": {"expiresIn": expires_in},
            "tickets": [{
                "eventId": event,
                "uitpasNumber": pass,
                "tariffId": TARIFF,
                "regularPrice": 10,
                "quantity": 1,
            }],
        });
        let mut record = HoldRecord {
            key: key.clone(),
            fate,
            expires_in,
            told: Told::Unanswered,
            problem: None,
            registration_id: None,
            answer: HoldAnswer::NotAsked,
        };
        match self
            .send(Method::POST, "/v1/registrations", Some(&key), Some(&body))
            .await
        {
            Answer::Final(status @ (201 | 202), answer) => {
                record.told = if status == 201 { Told::Registered } else { Told::Pending };
                record.registration_id = answer["id"].as_str().map(str::to_owned);
                self.holds.fetch_add(1, Ordering::Relaxed);
            }
            Answer::Final(status, answer) => {
                record.told = Told::Rejected;
                let kind = answer["type"].as_str().unwrap_or("(no problem type)");
                record.problem = Some(format!("{status} {kind}"));
                self.rejected.fetch_add(1, Ordering::Relaxed);
                return record;
            }
            Answer::Unanswered(why) => {
                eprintln!("chaos: hold {key} got no answer after {MAX_TRIES} tries: {why}");
                return record;
            }
        }
        let Some(id) = record.registration_id.clone() else {
            return record;
        };
        let ms = expires_in * 1000;
        let (action, pause) = match fate {
            HoldFate::Expire => return record,
            // One confirm in six comes right around the expiry: it races the worker's expiry.
            HoldFate::Confirm if fastrand::u32(0..6) == 0 => ("confirm", fastrand::u64(ms - 300..ms + 300)),
            HoldFate::Confirm => ("confirm", fastrand::u64(0..ms * 6 / 10)),
            HoldFate::Release => ("release", fastrand::u64(0..ms * 6 / 10)),
        };
        tokio::time::sleep(Duration::from_millis(pause)).await;
        let path = format!("/v1/registrations/{id}/{action}");
        record.answer = match self.send(Method::POST, &path, None, None).await {
            Answer::Final(200, view) if action == "confirm" => {
                self.holds_confirmed.fetch_add(1, Ordering::Relaxed);
                let status = view["status"].as_str().unwrap_or("(none)").to_owned();
                let sales: Vec<(String, Option<String>)> = view["ticketSales"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|s| {
                        (
                            s["id"].as_str().unwrap_or_default().to_owned(),
                            s["uitpasTicketSaleId"].as_str().map(str::to_owned),
                        )
                    })
                    .collect();
                // A confirmed hold is an order told registered: read back like one.
                if status == "registered" && sales.iter().all(|(_, uitpas)| uitpas.is_some()) {
                    self.told
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push(ToldRegistered {
                            key: key.clone(),
                            registration_id: id.clone(),
                            sales: sales.clone(),
                        });
                }
                HoldAnswer::Confirmed { status, sales }
            }
            Answer::Final(200, _) => {
                self.holds_released.fetch_add(1, Ordering::Relaxed);
                HoldAnswer::Released
            }
            Answer::Final(status, answer) => HoldAnswer::Refused(
                status,
                answer["type"].as_str().unwrap_or("(no problem type)").to_owned(),
            ),
            Answer::Unanswered(why) => {
                eprintln!("chaos: {action} of hold {key} got no answer after {MAX_TRIES} tries: {why}");
                HoldAnswer::Unanswered
            }
        };
        record
    }

    /// Reads an order told 201 back (`GET /v1/registrations/{id}`): it must still read
    /// `registered`, each ticket sale registered or cancelled (or cancelling) with the UiTPAS id
    /// of the 201.
    async fn recheck(&self, told: &ToldRegistered) {
        let path = format!("/v1/registrations/{}", told.registration_id);
        let answer = self.send(Method::GET, &path, None, None).await;
        self.rereads.fetch_add(1, Ordering::Relaxed);
        let why = match answer {
            Answer::Unanswered(why) => {
                self.rereads_unanswered.fetch_add(1, Ordering::Relaxed);
                eprintln!("chaos: reading back order {} got no answer: {why}", told.key);
                return;
            }
            Answer::Final(200, view) => {
                let status = view["status"].as_str().unwrap_or("(none)");
                let sales: HashMap<&str, &Value> = view["ticketSales"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|s| Some((s["id"].as_str()?, s)))
                    .collect();
                let mut problems = Vec::new();
                if status != "registered" {
                    problems.push(format!("registration reads {status}"));
                }
                if sales.len() != told.sales.len() {
                    problems.push(format!("{} ticket sales, told {}", sales.len(), told.sales.len()));
                }
                for (id, uitpas_id) in &told.sales {
                    match sales.get(id.as_str()) {
                        None => problems.push(format!("ticket sale {id} is gone")),
                        Some(sale) => {
                            let now = sale["uitpasTicketSaleId"].as_str();
                            if now != uitpas_id.as_deref() {
                                problems.push(format!("ticket sale {id}: UiTPAS id {now:?}, told {uitpas_id:?}"));
                            }
                            let st = sale["status"].as_str().unwrap_or("(none)");
                            if !matches!(st, "registered" | "cancelling" | "cancelled") {
                                problems.push(format!("ticket sale {id} reads {st}"));
                            }
                        }
                    }
                }
                if problems.is_empty() {
                    return;
                }
                problems.join("; ")
            }
            Answer::Final(status, view) => format!("GET answered {status} {}", view["type"]),
        };
        let first = self
            .ids_changed_keys
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(told.key.clone());
        if first {
            let line = format!(
                "changed after told: order {} (registration {}): {why}",
                told.key, told.registration_id
            );
            eprintln!("chaos: {line}");
            self.ids_changed.lock().unwrap_or_else(|e| e.into_inner()).push(line);
        }
    }

    /// Reads back the `n` orders told 201 last (after a PostgreSQL crash: those most at risk).
    async fn recheck_recent(&self, n: usize) {
        let recent: Vec<ToldRegistered> = {
            let told = self.told.lock().unwrap_or_else(|e| e.into_inner());
            told[told.len().saturating_sub(n)..].to_vec()
        };
        self.recheck_many(recent, 8).await;
    }

    async fn recheck_many(&self, told: Vec<ToldRegistered>, concurrency: usize) {
        use futures::StreamExt;
        futures::stream::iter(told)
            .for_each_concurrent(concurrency, |t| async move { self.recheck(&t).await })
            .await;
    }

    fn ids_changed_after_told(&self) -> usize {
        self.ids_changed_keys.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    async fn cancel(&self, sale_id: &str) -> CancelRecord {
        let path = format!("/v1/ticket-sales/{sale_id}");
        for _ in 0..MAX_NOT_YET {
            match self.send(Method::DELETE, &path, None, None).await {
                Answer::Final(status @ (204 | 202), _) => return CancelRecord::Made(status),
                // Not registered yet: the pending registration will settle; ask again later.
                Answer::Final(409, _) => tokio::time::sleep(Duration::from_millis(200)).await,
                Answer::Final(status, answer) => {
                    let kind = answer["type"].as_str().unwrap_or("(no problem type)").to_owned();
                    eprintln!("chaos: cancelling {sale_id} answered {status} {kind}");
                    return CancelRecord::Refused(status, kind);
                }
                Answer::Unanswered(why) => {
                    eprintln!("chaos: cancelling {sale_id} got no answer after {MAX_TRIES} tries: {why}");
                    return CancelRecord::Unanswered;
                }
            }
        }
        eprintln!("chaos: cancelling {sale_id} still answered 409 after {MAX_NOT_YET} tries");
        CancelRecord::GaveUp
    }
}

/// The orders and the holds (`--hold-rate` of the `sales`), `concurrency` at a time.
async fn run_load(load: Arc<Load>, sales: usize, concurrency: usize) -> (Vec<OrderRecord>, Vec<HoldRecord>) {
    let mut workers = Vec::new();
    for _ in 0..concurrency.max(1) {
        let load = load.clone();
        workers.push(tokio::spawn(async move {
            let (mut orders, mut holds) = (Vec::new(), Vec::new());
            loop {
                let i = load.next.fetch_add(1, Ordering::Relaxed);
                if i >= sales {
                    break;
                }
                if fastrand::f64() < load.hold_rate {
                    holds.push(load.hold(i).await);
                } else {
                    orders.push(load.order(i).await);
                }
                load.done.fetch_add(1, Ordering::Relaxed);
            }
            (orders, holds)
        }));
    }
    let (mut orders, mut holds) = (Vec::with_capacity(sales), Vec::new());
    for worker in workers {
        match worker.await {
            Ok((o, h)) => {
                orders.extend(o);
                holds.extend(h);
            }
            Err(e) => eprintln!("chaos: a load worker failed: {e}"),
        }
    }
    (orders, holds)
}

/// Reads back a random order told 201, one after the other, until the load is done.
async fn rereader(load: Arc<Load>) {
    while !load.finished.load(Ordering::Relaxed) {
        let pick = {
            let told = load.told.lock().unwrap_or_else(|e| e.into_inner());
            (!told.is_empty()).then(|| told[fastrand::usize(..told.len())].clone())
        };
        match pick {
            Some(t) => load.recheck(&t).await,
            None => tokio::time::sleep(Duration::from_millis(100)).await,
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// SIGKILLs a random live replica every `every` until `kills` are done, restarting each at once.
async fn killer(fleet: Arc<Fleet>, kills: u32, every: Duration, count: Arc<AtomicU64>) {
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

// --- settling and the verdict ---

/// Waits until nothing is left to do: no job, no pending registration, no cancelling sale.
/// `None` when the ledger has not settled within `limit`.
async fn settle(db: &PgPool, limit: Duration) -> anyhow::Result<Option<Duration>> {
    let start = Instant::now();
    let deadline = start + limit;
    let mut last_report = Instant::now();
    loop {
        let (jobs, pending, cancelling): (i64, i64, i64) = sqlx::query_as(
            "SELECT (SELECT count(*) FROM jobs),
                    (SELECT count(*) FROM registrations WHERE status = 'pending'),
                    (SELECT count(*) FROM ticket_sales WHERE status = 'cancelling')",
        )
        .fetch_one(db)
        .await?;
        if jobs == 0 && pending == 0 && cancelling == 0 {
            return Ok(Some(start.elapsed()));
        }
        if Instant::now() >= deadline {
            println!("not settled after {limit:?}: jobs={jobs} pending={pending} cancelling={cancelling}");
            return Ok(None);
        }
        if last_report.elapsed() >= Duration::from_secs(5) {
            last_report = Instant::now();
            println!(
                "[settling {:5.1}s] jobs={jobs} pending={pending} cancelling={cancelling}",
                start.elapsed().as_secs_f64()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A ledger line, as the verdict needs it.
#[derive(Debug, Clone)]
struct LedgerRow {
    idempotency_key: String,
    registration_id: String,
    registration_status: String,
    /// `held`, `confirmed`, `released` or `expired` for a hold; `None` otherwise.
    hold_state: Option<String>,
    sale_id: String,
    status: String,
    uitpas_id: Option<String>,
}

async fn read_ledger(db: &PgPool) -> anyhow::Result<Vec<LedgerRow>> {
    type Row = (String, String, String, Option<String>, String, String, Option<String>);
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT r.idempotency_key, r.id::text, r.status, r.hold_state, t.id::text, t.status, t.uitpas_ticket_sale_id
         FROM ticket_sales t JOIN registrations r ON r.id = t.registration_id",
    )
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(
            |(idempotency_key, registration_id, registration_status, hold_state, sale_id, status, uitpas_id)| {
                LedgerRow {
                    idempotency_key,
                    registration_id,
                    registration_status,
                    hold_state,
                    sale_id,
                    status,
                    uitpas_id,
                }
            },
        )
        .collect())
}

/// The counts of the verdict.
#[derive(Debug, Default)]
struct Verdict {
    sales_lost: usize,
    sales_registered_twice: usize,
    cancellations_not_settled: usize,
    work_done_twice: i64,
    cancelled_unasked: usize,
    ledger_ids_missing_at_uitpas: usize,
    sales_adopted_from_other_clients: usize,
    other_clients_sales_cancelled: usize,
    examples: Vec<String>,
}

/// What the campaign knows of UiTPAS's sales besides their status.
struct UitpasView<'a> {
    /// id → status, every sale ever made (`/_sandbox/ledger`).
    status: &'a HashMap<String, String>,
    /// id → label, for the sales UiTPAS still lists at the end (the active ones).
    labels: &'a HashMap<String, Option<String>>,
    /// The sales of the other clients (the box office, the busy event's seller).
    others: &'a HashMap<String, Seller>,
}

fn judge(orders: &[OrderRecord], ledger: &[LedgerRow], view: &UitpasView<'_>) -> Verdict {
    let uitpas = view.status;
    let mut v = Verdict::default();
    let example = |v: &mut Verdict, s: String| {
        if v.examples.len() < 20 {
            v.examples.push(s);
        }
    };
    let by_key: HashMap<&str, &LedgerRow> = ledger.iter().map(|r| (r.idempotency_key.as_str(), r)).collect();
    let by_sale: HashMap<&str, &LedgerRow> = ledger.iter().map(|r| (r.sale_id.as_str(), r)).collect();
    let mut by_uitpas: HashMap<&str, Vec<&LedgerRow>> = HashMap::new();
    for row in ledger {
        if let Some(id) = &row.uitpas_id {
            by_uitpas.entry(id.as_str()).or_default().push(row);
        }
    }

    for o in orders
        .iter()
        .filter(|o| matches!(o.told, Told::Registered | Told::Pending))
    {
        let lost = match by_key.get(o.key.as_str()) {
            None => Some("no ledger row".to_owned()),
            Some(row) if row.registration_status != "registered" => {
                Some(format!("registration is {}", row.registration_status))
            }
            Some(row) => match &row.uitpas_id {
                None => Some(format!("sale {} has no UiTPAS id", row.sale_id)),
                Some(id) if !uitpas.contains_key(id) => Some(format!("UiTPAS has no sale {id}")),
                Some(id) if o.told_uitpas_id.as_ref().is_some_and(|told| told != id) => {
                    Some(format!("told UiTPAS id {:?}, ledger has {id}", o.told_uitpas_id))
                }
                Some(_) => None,
            },
        };
        if let Some(why) = lost {
            v.sales_lost += 1;
            example(&mut v, format!("lost: order {} ({:?}): {why}", o.key, o.told));
        }
    }

    // Every sale of ours at UiTPAS is the sale of exactly one ledger line: the one whose marker
    // it carries (where the label is known, i.e. the sale is still listed).
    for (id, status) in uitpas {
        if let Some(who) = view.others.get(id) {
            if status == "CANCELLED" {
                v.other_clients_sales_cancelled += 1;
                example(
                    &mut v,
                    format!("others' sale cancelled: UiTPAS sale {id} of the {who:?} seller is CANCELLED"),
                );
            }
            continue;
        }
        let label = view.labels.get(id).cloned().flatten();
        let carried = label.as_deref().and_then(marker_in).map(str::to_owned);
        match by_uitpas.get(id.as_str()).map(Vec::as_slice) {
            None | Some([]) => {
                v.sales_registered_twice += 1;
                example(
                    &mut v,
                    format!("twice: UiTPAS sale {id} ({status}, label {label:?}) is in no ledger row"),
                );
            }
            Some([row, ..]) => {
                let expected = uuid::Uuid::parse_str(&row.sale_id).ok().map(marker);
                if view.labels.contains_key(id) && carried != expected {
                    v.sales_registered_twice += 1;
                    example(
                        &mut v,
                        format!(
                            "twice: UiTPAS sale {id} (label {label:?}) is the sale of ledger line {} (marker {expected:?})",
                            row.sale_id
                        ),
                    );
                }
            }
        }
    }
    for row in ledger {
        if let Some(id) = &row.uitpas_id
            && let Some(who) = view.others.get(id)
        {
            v.sales_adopted_from_other_clients += 1;
            example(
                &mut v,
                format!(
                    "adopted: ledger line {} (order {}) holds UiTPAS sale {id} of the {who:?} seller",
                    row.sale_id, row.idempotency_key
                ),
            );
        }
    }
    for (id, rows) in &by_uitpas {
        if rows.len() > 1 {
            v.sales_registered_twice += rows.len() - 1;
            example(
                &mut v,
                format!("twice: UiTPAS sale {id} is recorded {} times", rows.len()),
            );
        }
    }

    let mut asked: HashSet<&str> = HashSet::new();
    for o in orders {
        let Some(sale_id) = o.sale_id.as_deref() else {
            continue;
        };
        if o.cancel != CancelRecord::NotAsked {
            asked.insert(sale_id);
        }
        if !matches!(o.cancel, CancelRecord::Made(_)) {
            continue;
        }
        let problem = match by_sale.get(sale_id) {
            None => Some("no ledger row".to_owned()),
            Some(row) if row.status != "cancelled" => Some(format!("ledger row is {}", row.status)),
            Some(row) => match row.uitpas_id.as_ref().and_then(|id| uitpas.get(id)) {
                Some(s) if s == "CANCELLED" => None,
                other => Some(format!("UiTPAS sale {:?} is {other:?}", row.uitpas_id)),
            },
        };
        if let Some(why) = problem {
            v.cancellations_not_settled += 1;
            example(
                &mut v,
                format!("not settled: cancel of {sale_id} (order {}): {why}", o.key),
            );
        }
    }
    let made: HashSet<&str> = orders
        .iter()
        .filter(|o| matches!(o.cancel, CancelRecord::Made(_)))
        .filter_map(|o| o.sale_id.as_deref())
        .collect();
    for (id, status) in uitpas.iter().filter(|(_, s)| s.as_str() == "CANCELLED") {
        for row in by_uitpas.get(id.as_str()).into_iter().flatten() {
            if row.status != "cancelled" && !made.contains(row.sale_id.as_str()) {
                v.cancellations_not_settled += 1;
                example(
                    &mut v,
                    format!(
                        "not settled: UiTPAS sale {id} is {status}, its ledger row is {}",
                        row.status
                    ),
                );
            }
        }
    }
    // The sales of a hold released or expired are cancelled without a cancellation of the shop.
    for row in ledger {
        if matches!(row.hold_state.as_deref(), Some("released" | "expired")) {
            asked.insert(row.sale_id.as_str());
        }
    }
    for row in ledger {
        if matches!(row.status.as_str(), "cancelled" | "cancelling") && !asked.contains(row.sale_id.as_str()) {
            v.cancelled_unasked += 1;
            example(
                &mut v,
                format!("unasked: sale {} is {} but no cancel was sent", row.sale_id, row.status),
            );
        }
        if let Some(id) = &row.uitpas_id
            && !uitpas.contains_key(id)
        {
            v.ledger_ids_missing_at_uitpas += 1;
        }
    }
    let with_id = ledger
        .iter()
        .filter(|r| r.uitpas_id.as_ref().is_some_and(|id| !view.others.contains_key(id)))
        .count();
    let ours = uitpas.keys().filter(|id| !view.others.contains_key(*id)).count();
    v.work_done_twice = i64::try_from(ours).unwrap_or(i64::MAX) - i64::try_from(with_id).unwrap_or(i64::MAX);
    v
}

/// The counts of the holds.
#[derive(Debug, Default)]
struct HoldVerdict {
    /// Holds the shop did not confirm (released, expired, or a confirm refused) whose sales are
    /// still active at UiTPAS, or that ended confirmed all the same.
    sales_left_registered_for_unconfirmed_holds: usize,
    /// Holds answered 200 on confirm that do not end confirmed and registered, each sale
    /// registered in the ledger with the UiTPAS id of the 200, and active at UiTPAS.
    confirmed_holds_lost: usize,
    examples: Vec<String>,
}

fn judge_holds(holds: &[HoldRecord], ledger: &[LedgerRow], uitpas: &HashMap<String, String>) -> HoldVerdict {
    let mut v = HoldVerdict::default();
    let mut by_key: HashMap<&str, Vec<&LedgerRow>> = HashMap::new();
    for row in ledger {
        by_key.entry(row.idempotency_key.as_str()).or_default().push(row);
    }
    let at_uitpas = |row: &LedgerRow| {
        row.uitpas_id
            .as_ref()
            .map(|id| uitpas.get(id).map_or("unknown to UiTPAS", String::as_str))
            .unwrap_or("(no UiTPAS id)")
            .to_owned()
    };
    for h in holds {
        let rows = by_key.get(h.key.as_str()).map(Vec::as_slice).unwrap_or_default();
        let registration = rows.first().map_or("(none)", |r| r.registration_id.as_str());
        let state = rows.first().and_then(|r| r.hold_state.as_deref());
        let note = |v: &mut HoldVerdict, why: String| {
            if v.examples.len() < 20 {
                v.examples.push(format!(
                    "hold {} (registration {registration}, {:?}, expiresIn {} s, told {:?}, {:?}): {why}",
                    h.key, h.fate, h.expires_in, h.told, h.answer
                ));
            }
        };
        if let HoldAnswer::Confirmed { sales, .. } = &h.answer {
            let mut problems = Vec::new();
            if rows.is_empty() {
                problems.push("no ledger row".to_owned());
            }
            if !rows.is_empty() && state != Some("confirmed") {
                problems.push(format!("the hold is {state:?}"));
            }
            for row in rows {
                if row.registration_status != "registered" {
                    problems.push(format!("the registration is {}", row.registration_status));
                }
                let uitpas_status = at_uitpas(row);
                if row.status != "registered" || uitpas_status != "ACTIVE" {
                    problems.push(format!(
                        "sale {} is {} in the ledger, UiTPAS sale {:?} is {uitpas_status}",
                        row.sale_id, row.status, row.uitpas_id
                    ));
                }
                let told = sales
                    .iter()
                    .find(|(id, _)| *id == row.sale_id)
                    .and_then(|(_, u)| u.as_ref());
                if told.is_some_and(|told| Some(told) != row.uitpas_id.as_ref()) {
                    problems.push(format!(
                        "sale {}: told UiTPAS id {told:?}, ledger has {:?}",
                        row.sale_id, row.uitpas_id
                    ));
                }
            }
            if !problems.is_empty() {
                v.confirmed_holds_lost += 1;
                note(&mut v, format!("confirmed hold lost: {}", problems.join("; ")));
            }
            continue;
        }
        if state == Some("confirmed") {
            // The shop never heard that it was confirmed: it took no payment for it, or refunded.
            // (A confirm that got no answer at all is another failure: unanswered.)
            if h.answer != HoldAnswer::Unanswered {
                v.sales_left_registered_for_unconfirmed_holds += 1;
                note(
                    &mut v,
                    "the hold ended confirmed, although the shop was not told so".to_owned(),
                );
            }
            continue;
        }
        let active: Vec<String> = rows
            .iter()
            .filter(|row| at_uitpas(row) == "ACTIVE")
            .map(|row| {
                format!(
                    "sale {} ({} in the ledger, UiTPAS sale {:?} ACTIVE)",
                    row.sale_id, row.status, row.uitpas_id
                )
            })
            .collect();
        if !active.is_empty() {
            v.sales_left_registered_for_unconfirmed_holds += 1;
            note(
                &mut v,
                format!(
                    "the hold is {state:?} but its sales are active at UiTPAS: {}",
                    active.join("; ")
                ),
            );
        }
    }
    v
}

fn histogram<'a>(items: impl Iterator<Item = &'a str>) -> BTreeMap<String, usize> {
    let mut h = BTreeMap::new();
    for item in items {
        *h.entry(item.to_owned()).or_insert(0) += 1;
    }
    h
}

/// The campaign proper; `Ok(true)` when the verdict passes.
async fn run(
    options: &Options,
    sandbox: &RunningSandbox,
    db_name: &str,
    fleet_slot: &mut Option<Arc<Fleet>>,
    pg: Option<Arc<Postgres>>,
    started: Instant,
) -> anyhow::Result<bool> {
    if options.sales == 0 || options.replicas == 0 || options.events == 0 {
        bail!("--sales, --replicas and --events must be at least 1");
    }
    if options.max_delay >= options.settle_window {
        bail!(
            "--max-delay ({:?}) must be shorter than --settle-window ({:?}): the service assumes that UiTPAS commits within SETTLE_WINDOW or never",
            options.max_delay,
            options.settle_window
        );
    }
    if options.settle_window <= UPSTREAM_TIMEOUT {
        bail!("--settle-window must be longer than UPSTREAM_TIMEOUT ({UPSTREAM_TIMEOUT:?})");
    }
    let binary = match &options.binary {
        Some(b) => b.clone(),
        None => default_binary()?,
    };
    if !binary.is_file() {
        bail!("no service binary at {} (build it, or pass --binary)", binary.display());
    }
    std::fs::create_dir_all(&options.logs).with_context(|| format!("creating {}", options.logs.display()))?;
    // The logs are output, never sources: keep them out of git without touching .gitignore.
    std::fs::write(options.logs.join(".gitignore"), "*\n")?;
    for entry in std::fs::read_dir(&options.logs)?.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if (name.starts_with("replica-") && name.ends_with(".log")) || name == "result.json" {
            std::fs::remove_file(entry.path())?;
        }
    }
    println!("binary      {}", binary.display());
    println!("logs        {}", options.logs.display());
    let base = sandbox.base_url();
    println!("sandbox     {base}");
    let http = reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .pool_max_idle_per_host(options.concurrency.max(1) * 2)
        .build()?;

    // 2. events
    let events = create_events(&http, &base, options.events).await?;
    println!("events      {} created", events.len());

    // The shop's webhook receiver, for every replica.
    let receiver = Arc::new(Receiver::new(options.webhook_error_rate, options.webhook_hang_rate));
    let (receiver_addr, receiver_task) = receiver.start().await?;
    println!(
        "webhooks    http://{receiver_addr}/webhooks: 500 p={}, hangs {WEBHOOK_HANG:?} p={} (WEBHOOK_TIMEOUT {WEBHOOK_TIMEOUT:?}); every signature verified",
        options.webhook_error_rate, options.webhook_hang_rate
    );

    // 3. replicas: the first alone (it applies the migrations), then the others.
    let database_url = format!("{}/{db_name}", options.postgres);
    let fleet = Arc::new(Fleet {
        binary,
        database_url: database_url.clone(),
        sandbox_url: base.clone(),
        webhook_url: format!("http://{}/webhooks", receiver_addr),
        logs: options.logs.clone(),
        slots: Mutex::new((0..options.replicas).map(|_| None).collect()),
        stopping: AtomicBool::new(false),
        started,
        start_failures: AtomicU64::new(0),
        settle_window: options.settle_window,
        pg: pg.clone(),
        exits: AtomicU64::new(0),
    });
    *fleet_slot = Some(fleet.clone());
    if !fleet.bring_up(0).await {
        bail!(
            "the first replica does not start (see {}/replica-0.log)",
            options.logs.display()
        );
    }
    let others = futures::future::join_all((1..options.replicas).map(|slot| {
        let fleet = fleet.clone();
        async move { fleet.bring_up(slot).await }
    }))
    .await;
    if others.iter().any(|up| !up) {
        bail!("not every replica starts (see {})", options.logs.display());
    }
    println!("replicas    {} listening", fleet.live());
    let db = sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .connect(&database_url)
        .await
        .context("connecting to the campaign's database")?;

    // 4. faults
    set_faults(&http, &base, options).await?;
    println!(
        "faults      post/delete-ticket-sales: 503 p={} and drop-after-commit p={}; get-ticket-sales: 503 p=0.1",
        options.error_rate, options.drop_rate
    );
    let rotation = (options.delay_rate > 0.0 || options.token_delay_rate > 0.0).then(|| {
        println!(
            "            post-ticket-sales: delayed p={} by {:?}..{:?}, then carried out (UPSTREAM_TIMEOUT {UPSTREAM_TIMEOUT:?}, REPLAY_LEASE {REPLAY_LEASE:?}, SETTLE_WINDOW {:?})",
            options.delay_rate,
            UPSTREAM_TIMEOUT + Duration::from_millis(200),
            options.max_delay,
            options.settle_window
        );
        println!(
            "            post-oauth-token: delayed p={} by up to {:?} (tokens live {:?})",
            options.token_delay_rate,
            UPSTREAM_TIMEOUT * 9 / 10,
            options.token_ttl
        );
        tokio::spawn(rotate_delays(http.clone(), base.clone(), options.clone()))
    });
    let others = if options.box_office_rate > 0.0 || options.busy_sales > 0 {
        Some(Arc::new(Others::new(&base).await?))
    } else {
        None
    };

    // 5 and 6. load and killer
    let pool = (options.sales / 4).max(1);
    let load = Arc::new(Load {
        http: http.clone(),
        fleet: fleet.clone(),
        run_id: uuid::Uuid::new_v4().simple().to_string()[..8].to_owned(),
        events,
        passes: (0..pool).map(synthetic_active).collect(),
        cancel_rate: options.cancel_rate,
        hold_rate: options.hold_rate,
        holds: AtomicUsize::new(0),
        holds_confirmed: AtomicUsize::new(0),
        holds_released: AtomicUsize::new(0),
        next: AtomicUsize::new(0),
        done: AtomicUsize::new(0),
        registered: AtomicUsize::new(0),
        pending: AtomicUsize::new(0),
        rejected: AtomicUsize::new(0),
        cancels: AtomicUsize::new(0),
        retries: AtomicU64::new(0),
        in_flight: AtomicUsize::new(0),
        connection_errors: AtomicU64::new(0),
        server_errors: Mutex::new(BTreeMap::new()),
        outage_errors: Mutex::new(BTreeMap::new()),
        finished: AtomicBool::new(false),
        others: others.clone(),
        box_office_rate: options.box_office_rate,
        pg: pg.clone(),
        told: Mutex::new(Vec::new()),
        rereads: AtomicU64::new(0),
        ids_changed: Mutex::new(Vec::new()),
        ids_changed_keys: Mutex::new(HashSet::new()),
        rereads_unanswered: AtomicU64::new(0),
    });
    let kills = Arc::new(AtomicU64::new(0));
    let load_started = Instant::now();
    let killer_task = tokio::spawn(killer(fleet.clone(), options.kills, options.kill_every, kills.clone()));
    let crasher_task = pg.clone().map(|pg| {
        tokio::spawn(pg_crasher(
            pg,
            load.clone(),
            options.sales,
            options.pg_crashes,
            options.pg_down,
            db_name.to_owned(),
        ))
    });
    let busy_task = match (&others, options.busy_sales) {
        (Some(others), min) if min > 0 => {
            println!(
                "busy event  {} (a sale of another client every {:?}, {min} at least)",
                load.events[0], options.busy_every
            );
            Some(tokio::spawn(busy_seller(
                others.clone(),
                load.clone(),
                load.events[0].clone(),
                options.busy_every,
                min,
            )))
        }
        _ => None,
    };
    let rereader_task = tokio::spawn(rereader(load.clone()));
    let watcher_task = {
        let fleet = fleet.clone();
        tokio::spawn(async move {
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
        })
    };
    let progress = {
        let load = load.clone();
        let receiver = receiver.clone();
        let fleet = fleet.clone();
        let kills = kills.clone();
        let (total, target) = (options.sales, options.kills);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(5)).await;
                let (box_office, busy) = load
                    .others
                    .as_ref()
                    .map_or((0, 0), |o| (o.count(Seller::BoxOffice), o.count(Seller::Busy)));
                println!(
                    "[{:6.1}s] orders {}/{total} (201: {}, 202: {}, 4xx: {}) cancels {} holds {} (confirmed {}, released {}) webhooks {} kills {}/{target} pg crashes {} live {} in flight {} retries {} others' sales {}+{} rereads {}",
                    fleet.elapsed(),
                    load.done.load(Ordering::Relaxed),
                    load.registered.load(Ordering::Relaxed),
                    load.pending.load(Ordering::Relaxed),
                    load.rejected.load(Ordering::Relaxed),
                    load.cancels.load(Ordering::Relaxed),
                    load.holds.load(Ordering::Relaxed),
                    load.holds_confirmed.load(Ordering::Relaxed),
                    load.holds_released.load(Ordering::Relaxed),
                    receiver.accepted().len(),
                    kills.load(Ordering::Relaxed),
                    load.pg.as_ref().map_or(0, |pg| pg.crashes.load(Ordering::Relaxed)),
                    fleet.live(),
                    load.in_flight.load(Ordering::Relaxed),
                    load.retries.load(Ordering::Relaxed),
                    box_office,
                    busy,
                    load.rereads.load(Ordering::Relaxed),
                );
            }
        })
    };
    let (orders, holds) = run_load(load.clone(), options.sales, options.concurrency).await;
    let load_seconds = load_started.elapsed().as_secs_f64();
    load.finished.store(true, Ordering::SeqCst);
    println!("load done in {load_seconds:.1} s; waiting for the killer, the PostgreSQL crashes and the other sellers");
    let _ = killer_task.await;
    if let Some(task) = crasher_task {
        let _ = task.await;
    }
    if let Some(task) = busy_task {
        let _ = task.await;
    }
    let _ = rereader_task.await;
    progress.abort();
    let kills_done = kills.load(Ordering::SeqCst);
    let pg_crashes_done = pg.as_ref().map_or(0, |pg| pg.crashes.load(Ordering::SeqCst));

    // 7. recovery
    if let Some(rotation) = rotation {
        rotation.abort();
        let _ = rotation.await;
    }
    let response = http.delete(format!("{base}/_sandbox/faults")).send().await?;
    if !response.status().is_success() {
        bail!("clearing the faults: {}", response.status());
    }
    receiver.faulty.store(false, Ordering::SeqCst);
    println!("faults cleared (UiTPAS and the webhook receiver); waiting for the ledger to settle");
    let settled = settle(&db, options.settle_timeout).await?;
    let (orders_pending_at_end,): (i64,) =
        sqlx::query_as("SELECT count(*) FROM registrations WHERE status = 'pending'")
            .fetch_one(&db)
            .await?;

    // What the shop was told 201, read back once more, every one of them.
    let told_all = load.told.lock().unwrap_or_else(|e| e.into_inner()).clone();
    println!("reading back the {} orders told 201", told_all.len());
    load.recheck_many(told_all, 16).await;
    watcher_task.abort();

    // 8. verdict
    let uitpas_ledger: Value = http
        .get(format!("{base}/_sandbox/ledger"))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let uitpas: HashMap<String, String> = uitpas_ledger["ticketSales"]
        .as_array()
        .context("the sandbox ledger")?
        .iter()
        .filter_map(|s| Some((s["id"].as_str()?.to_owned(), s["status"].as_str()?.to_owned())))
        .collect();
    let stats: Value = http
        .get(format!("{base}/_sandbox/stats"))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let upstream_calls: BTreeMap<String, u64> = stats["operations"]
        .as_object()
        .map(|ops| {
            ops.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_u64()?)))
                .filter(|(_, n)| *n > 0)
                .collect()
        })
        .unwrap_or_default();
    let ledger = read_ledger(&db).await?;
    // Every webhook event stored must have been received (a valid signature, answered 200).
    let webhook_events: Vec<(String, String, i32, Option<String>, bool)> = sqlx::query_as(
        "SELECT id::text, type, attempts, last_error, delivered_at IS NOT NULL FROM webhook_events ORDER BY created_at",
    )
    .fetch_all(&db)
    .await?;
    db.close().await;
    receiver_task.abort();
    let accepted = receiver.accepted().clone();
    let never_delivered: Vec<String> = webhook_events
        .iter()
        .filter(|(id, ..)| !accepted.contains_key(id))
        .map(|(id, kind, attempts, error, delivered)| {
            format!("webhook event {id} ({kind}) never received: {attempts} attempts, delivered_at set: {delivered}, last error {error:?}")
        })
        .collect();
    let event_ids: HashSet<&str> = webhook_events.iter().map(|(id, ..)| id.as_str()).collect();
    let webhook_ids_unknown = accepted.keys().filter(|id| !event_ids.contains(id.as_str())).count();
    let webhook_duplicates: u32 = accepted.values().map(|n| n.saturating_sub(1)).sum();
    let webhook_types = histogram(webhook_events.iter().map(|(_, kind, ..)| kind.as_str()));
    let webhook_invalid = receiver.invalid.load(Ordering::Relaxed);
    // The labels of the sales UiTPAS still lists (the active ones), and the other clients' sales:
    // those they were told of, and any listed with their label (one whose answer was lost).
    let token = sandbox_token(&http, &base, "chaos", "chaos-secret").await?;
    let listed = active_sales(&http, &base, &token, &load.events).await?;
    let labels: HashMap<String, Option<String>> = listed.iter().map(|(id, (_, l))| (id.clone(), l.clone())).collect();
    let mut others_ids: HashMap<String, Seller> = others.as_ref().map(|o| o.ids().clone()).unwrap_or_default();
    for (id, label) in &labels {
        for who in [Seller::BoxOffice, Seller::Busy] {
            if label
                .as_deref()
                .is_some_and(|l| l.starts_with(&format!("{} ", who.label_prefix())))
            {
                others_ids.entry(id.clone()).or_insert(who);
            }
        }
    }
    let busy_listed = listed.values().filter(|(event, _)| *event == load.events[0]).count();
    let verdict = judge(
        &orders,
        &ledger,
        &UitpasView {
            status: &uitpas,
            labels: &labels,
            others: &others_ids,
        },
    );
    let hold_verdict = judge_holds(&holds, &ledger, &uitpas);
    let ids_changed_after_told = load.ids_changed_after_told();
    let ids_changed_examples = load.ids_changed.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let outage_errors = load.outage_errors.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let others_summary = others.as_ref().map(|o| {
        json!({
            "box_office_sales": o.count(Seller::BoxOffice),
            "busy_event_sales": o.count(Seller::Busy),
            "lost_answers": o.lost_answers.load(Ordering::Relaxed),
            "refused": o.refused.lock().unwrap_or_else(|e| e.into_inner()).clone(),
            "gave_up": o.gave_up.load(Ordering::Relaxed),
        })
    });

    let count = |t: Told| orders.iter().filter(|o| o.told == t).count();
    let cancels_requested = orders
        .iter()
        .filter(|o| matches!(o.cancel, CancelRecord::Made(_)))
        .count();
    let cancels_told_202 = orders.iter().filter(|o| o.cancel == CancelRecord::Made(202)).count();
    let cancels_gave_up = orders.iter().filter(|o| o.cancel == CancelRecord::GaveUp).count();
    let cancels_refused = orders
        .iter()
        .filter(|o| matches!(o.cancel, CancelRecord::Refused(..)))
        .count();
    let unanswered = count(Told::Unanswered)
        + orders.iter().filter(|o| o.cancel == CancelRecord::Unanswered).count()
        + holds
            .iter()
            .filter(|h| h.told == Told::Unanswered || h.answer == HoldAnswer::Unanswered)
            .count();
    let rejections = histogram(
        orders
            .iter()
            .filter_map(|o| o.problem.as_deref())
            .chain(holds.iter().filter_map(|h| h.problem.as_deref())),
    );
    let hold_count = |f: &dyn Fn(&HoldRecord) -> bool| holds.iter().filter(|h| f(h)).count();
    let holds_summary = json!({
        "made": hold_count(&|h| matches!(h.told, Told::Registered | Told::Pending)),
        "told_held_201": hold_count(&|h| h.told == Told::Registered),
        "told_pending_202": hold_count(&|h| h.told == Told::Pending),
        "confirmed_200": hold_count(&|h| matches!(h.answer, HoldAnswer::Confirmed { .. })),
        "released_200": hold_count(&|h| h.answer == HoldAnswer::Released),
        "left_to_expire": hold_count(&|h| h.fate == HoldFate::Expire && matches!(h.told, Told::Registered | Told::Pending)),
        "refused": histogram(holds.iter().filter_map(|h| match &h.answer {
            HoldAnswer::Refused(status, kind) => Some(format!("{status} {kind}")),
            _ => None,
        }).collect::<Vec<_>>().iter().map(String::as_str)),
        "end_states": histogram(holds.iter().filter_map(|h| {
            ledger.iter().find(|r| r.idempotency_key == h.key).and_then(|r| r.hold_state.as_deref())
        })),
    });
    let webhooks_summary = json!({
        "events": webhook_events.len(),
        "by_type": webhook_types,
        "requests": receiver.requests.load(Ordering::Relaxed),
        "answered_500": receiver.answered_500.load(Ordering::Relaxed),
        "hung": receiver.hung.load(Ordering::Relaxed),
        "received_again": webhook_duplicates,
        "ids_unknown_to_the_database": webhook_ids_unknown,
    });
    let server_errors = load.server_errors.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let ledger_statuses = histogram(ledger.iter().map(|r| r.status.as_str()));
    let uitpas_statuses = histogram(
        uitpas
            .iter()
            .filter(|(id, _)| !others_ids.contains_key(*id))
            .map(|(_, s)| s.as_str()),
    );
    let others_statuses = histogram(
        uitpas
            .iter()
            .filter(|(id, _)| others_ids.contains_key(*id))
            .map(|(_, s)| s.as_str()),
    );
    let settle_seconds = settled.map(|d| (d.as_secs_f64() * 10.0).round() / 10.0);

    let mut failures = Vec::new();
    if verdict.sales_lost > 0 {
        failures.push("sales_lost");
    }
    if verdict.sales_registered_twice > 0 {
        failures.push("sales_registered_twice");
    }
    if verdict.cancellations_not_settled > 0 {
        failures.push("cancellations_not_settled");
    }
    if verdict.work_done_twice != 0 {
        failures.push("work_done_twice");
    }
    if verdict.cancelled_unasked > 0 {
        failures.push("cancelled_unasked");
    }
    if verdict.ledger_ids_missing_at_uitpas > 0 {
        failures.push("ledger_ids_missing_at_uitpas");
    }
    if verdict.sales_adopted_from_other_clients > 0 {
        failures.push("sales_adopted_from_other_clients");
    }
    if verdict.other_clients_sales_cancelled > 0 {
        failures.push("other_clients_sales_cancelled");
    }
    if ids_changed_after_told > 0 {
        failures.push("ids_changed_after_told");
    }
    if orders_pending_at_end > 0 {
        failures.push("orders_pending_at_end");
    }
    if hold_verdict.sales_left_registered_for_unconfirmed_holds > 0 {
        failures.push("sales_left_registered_for_unconfirmed_holds");
    }
    if hold_verdict.confirmed_holds_lost > 0 {
        failures.push("confirmed_holds_lost");
    }
    if !never_delivered.is_empty() {
        failures.push("webhook_events_never_delivered");
    }
    if webhook_invalid > 0 {
        failures.push("webhook_signatures_invalid");
    }
    if webhook_ids_unknown > 0 {
        failures.push("webhook ids unknown to the database");
    }
    if pg_crashes_done < u64::from(options.pg_crashes) {
        failures.push("too few PostgreSQL crashes");
    }
    if options.busy_sales > 0 && busy_listed <= 500 {
        failures.push("the busy event has 500 sales or fewer");
    }
    if load.rereads_unanswered.load(Ordering::Relaxed) > 0 {
        failures.push("read-backs unanswered");
    }
    if fleet.exits.load(Ordering::Relaxed) > 0 {
        failures.push("replicas ended by themselves");
    }
    if settled.is_none() {
        failures.push("not settled");
    }
    if kills_done < u64::from(options.kills) {
        failures.push("too few kills");
    }
    if unanswered > 0 {
        failures.push("unanswered");
    }
    if !server_errors.is_empty() {
        failures.push("service 5xx answers");
    }

    let result = json!({
        "date": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "nproc": std::thread::available_parallelism().map_or(0, |n| n.get()),
        "options": {
            "sales": options.sales, "concurrency": options.concurrency, "events": options.events,
            "replicas": options.replicas, "kills": options.kills, "killEverySeconds": options.kill_every.as_secs_f64(),
            "errorRate": options.error_rate, "dropRate": options.drop_rate, "cancelRate": options.cancel_rate,
            "holdRate": options.hold_rate, "holdExpiresInSeconds": [HOLD_EXPIRES_IN.start(), HOLD_EXPIRES_IN.end()],
            "webhookErrorRate": options.webhook_error_rate, "webhookHangRate": options.webhook_hang_rate,
            "webhookTimeoutSeconds": WEBHOOK_TIMEOUT.as_secs_f64(),
            "settleTimeoutSeconds": options.settle_timeout.as_secs_f64(),
            "delayRate": options.delay_rate, "maxDelaySeconds": options.max_delay.as_secs_f64(),
            "tokenTtlSeconds": options.token_ttl.as_secs_f64(), "tokenDelayRate": options.token_delay_rate,
            "settleWindowSeconds": options.settle_window.as_secs_f64(),
            "upstreamTimeoutSeconds": UPSTREAM_TIMEOUT.as_secs_f64(), "replayLeaseSeconds": REPLAY_LEASE.as_secs_f64(),
            "boxOfficeRate": options.box_office_rate, "busySales": options.busy_sales,
            "busyEverySeconds": options.busy_every.as_secs_f64(),
            "pgCrashes": options.pg_crashes, "pgDownSeconds": options.pg_down.as_secs_f64(),
        },
        "orders": orders.len(),
        "told_registered": count(Told::Registered),
        "told_pending": count(Told::Pending),
        "told_rejected": count(Told::Rejected),
        "rejections": rejections,
        "unanswered": unanswered,
        "cancels_requested": cancels_requested,
        "cancels_told_202": cancels_told_202,
        "cancels_gave_up": cancels_gave_up,
        "cancels_refused": cancels_refused,
        "holds": holds_summary,
        "webhooks": webhooks_summary,
        "kills": kills_done,
        "pg_crashes": pg_crashes_done,
        "replicas": options.replicas,
        "replica_exits": fleet.exits.load(Ordering::Relaxed),
        "replica_start_failures": fleet.start_failures.load(Ordering::Relaxed),
        "client_retries": load.retries.load(Ordering::Relaxed),
        "connection_errors": load.connection_errors.load(Ordering::Relaxed),
        "server_errors": server_errors,
        "server_errors_while_postgres_down": outage_errors,
        "other_clients": others_summary,
        "busy_event_sales_listed": busy_listed,
        "rereads": load.rereads.load(Ordering::Relaxed),
        "rereads_unanswered": load.rereads_unanswered.load(Ordering::Relaxed),
        "load_seconds": (load_seconds * 10.0).round() / 10.0,
        "settle_seconds": settle_seconds,
        "ledger_sales": ledger_statuses,
        "uitpas_sales": uitpas_statuses,
        "uitpas_sales_of_other_clients": others_statuses,
        "sales_lost": verdict.sales_lost,
        "sales_registered_twice": verdict.sales_registered_twice,
        "cancellations_not_settled": verdict.cancellations_not_settled,
        "work_done_twice": verdict.work_done_twice,
        "cancelled_unasked": verdict.cancelled_unasked,
        "ledger_ids_missing_at_uitpas": verdict.ledger_ids_missing_at_uitpas,
        "sales_adopted_from_other_clients": verdict.sales_adopted_from_other_clients,
        "other_clients_sales_cancelled": verdict.other_clients_sales_cancelled,
        "ids_changed_after_told": ids_changed_after_told,
        "ids_changed_examples": ids_changed_examples,
        "orders_pending_at_end": orders_pending_at_end,
        "sales_left_registered_for_unconfirmed_holds": hold_verdict.sales_left_registered_for_unconfirmed_holds,
        "confirmed_holds_lost": hold_verdict.confirmed_holds_lost,
        "webhook_events_never_delivered": never_delivered.len(),
        "webhook_signatures_invalid": webhook_invalid,
        "hold_examples": hold_verdict.examples,
        "webhook_examples": never_delivered.iter().take(20).collect::<Vec<_>>(),
        "webhook_invalid_examples": receiver.invalid_examples.lock().unwrap_or_else(|e| e.into_inner()).clone(),
        "upstream_calls": upstream_calls,
        "failures": failures,
        "examples": verdict.examples,
    });

    let line = |name: &str, value: String| println!("  {name:<30} {value}");
    println!();
    println!("== chaos result");
    line("orders", orders.len().to_string());
    line("told_registered (201)", count(Told::Registered).to_string());
    line("told_pending (202)", count(Told::Pending).to_string());
    line(
        "told_rejected (4xx)",
        format!("{} {}", count(Told::Rejected), result["rejections"]),
    );
    line("unanswered", unanswered.to_string());
    line(
        "cancels_requested (204/202)",
        format!(
            "{cancels_requested} (202: {cancels_told_202}; gave up on 409: {cancels_gave_up}; refused: {cancels_refused})"
        ),
    );
    line("holds", result["holds"].to_string());
    line("webhooks", result["webhooks"].to_string());
    line("kills", format!("{kills_done} of {}", options.kills));
    line(
        "PostgreSQL crashes",
        format!(
            "{pg_crashes_done} of {} (-m immediate, down {:?})",
            options.pg_crashes, options.pg_down
        ),
    );
    line("replicas", options.replicas.to_string());
    line(
        "replicas ended by themselves",
        fleet.exits.load(Ordering::Relaxed).to_string(),
    );
    line("client retries", load.retries.load(Ordering::Relaxed).to_string());
    line(
        "connection errors",
        load.connection_errors.load(Ordering::Relaxed).to_string(),
    );
    line("service 5xx answers", result["server_errors"].to_string());
    line(
        "5xx while PostgreSQL down",
        result["server_errors_while_postgres_down"].to_string(),
    );
    line("other clients", result["other_clients"].to_string());
    line("busy event: sales listed", busy_listed.to_string());
    line(
        "read-backs of 201s",
        format!(
            "{} (unanswered: {})",
            load.rereads.load(Ordering::Relaxed),
            load.rereads_unanswered.load(Ordering::Relaxed)
        ),
    );
    line("load_seconds", format!("{load_seconds:.1}"));
    line(
        "settle_seconds",
        settle_seconds.map_or_else(
            || format!("NOT SETTLED within {:?}", options.settle_timeout),
            |s| format!("{s:.1}"),
        ),
    );
    line("ledger sales", result["ledger_sales"].to_string());
    line("UiTPAS sales (ours)", result["uitpas_sales"].to_string());
    line(
        "UiTPAS sales (others')",
        result["uitpas_sales_of_other_clients"].to_string(),
    );
    line("upstream_calls", result["upstream_calls"].to_string());
    println!("  --");
    line("sales_lost", verdict.sales_lost.to_string());
    line("sales_registered_twice", verdict.sales_registered_twice.to_string());
    line(
        "cancellations_not_settled",
        verdict.cancellations_not_settled.to_string(),
    );
    line("work_done_twice", verdict.work_done_twice.to_string());
    line("cancelled_unasked", verdict.cancelled_unasked.to_string());
    line(
        "ledger_ids_missing_at_uitpas",
        verdict.ledger_ids_missing_at_uitpas.to_string(),
    );
    line(
        "sales_adopted_from_other_clients",
        verdict.sales_adopted_from_other_clients.to_string(),
    );
    line(
        "other_clients_sales_cancelled",
        verdict.other_clients_sales_cancelled.to_string(),
    );
    line("ids_changed_after_told", ids_changed_after_told.to_string());
    line("orders_pending_at_end", orders_pending_at_end.to_string());
    line(
        "sales_left_registered_for_unconfirmed_holds",
        hold_verdict.sales_left_registered_for_unconfirmed_holds.to_string(),
    );
    line("confirmed_holds_lost", hold_verdict.confirmed_holds_lost.to_string());
    line("webhook_events_never_delivered", never_delivered.len().to_string());
    line("webhook_signatures_invalid", webhook_invalid.to_string());
    for e in &verdict.examples {
        println!("  ! {e}");
    }
    for e in hold_verdict.examples.iter().chain(never_delivered.iter().take(20)) {
        println!("  ! {e}");
    }
    for e in receiver
        .invalid_examples
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
    {
        println!("  ! webhook refused: {e}");
    }
    for e in ids_changed_examples.iter().take(20) {
        println!("  ! {e}");
    }
    if !failures.is_empty() {
        println!("  failed: {}", failures.join(", "));
    }
    let path = options.logs.join("result.json");
    std::fs::write(&path, serde_json::to_string_pretty(&result)? + "\n")
        .with_context(|| format!("writing {}", path.display()))?;
    println!("result      {}", path.display());
    Ok(failures.is_empty())
}
