//! The campaign's options (`chaos --help`), what they imply, and the header printed at the start.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::bail;
use clap::Parser;

use crate::{OTHERS_TIMEOUT, REPLAY_LEASE, REQUEST_TIMEOUT, UPSTREAM_TIMEOUT};

/// The fault campaign of uitpas-checkout: replicas SIGKILLed under load while UiTPAS fails, then the
/// shop's answers, the ledger and UiTPAS compared (see chaos/README.md).
#[derive(Debug, Clone, Parser)]
#[command(name = "chaos")]
pub struct Options {
    /// Orders to register, one ticket each.
    #[arg(long, default_value_t = 10_000)]
    pub sales: usize,
    /// Orders in flight at once.
    #[arg(long, default_value_t = 32)]
    pub concurrency: usize,
    /// Reward redemptions (UiTPAS points) made during the load, spread over it; default: one
    /// per ten orders. `--hold-rate` of them are holds, `--cancel-rate` of the others cancelled.
    #[arg(long)]
    pub redemptions: Option<usize>,
    /// UiTdatabank events created for the campaign; orders pick one at random.
    #[arg(long, default_value_t = 50)]
    pub events: usize,
    /// Replicas of the service running at once.
    #[arg(long, default_value_t = 3)]
    pub replicas: usize,
    /// SIGKILLs during the campaign, one replica at a time, each replaced at once.
    #[arg(long, default_value_t = 20)]
    pub kills: u32,
    /// Time between two kills (`1.5`, `1.5s`, `1500ms`).
    #[arg(long, default_value = "1.5s", value_parser = parse_duration)]
    pub kill_every: Duration,
    /// SIGSTOPs during the campaign: a random running replica is paused (SIGSTOP) for a few
    /// seconds, then resumed (SIGCONT); default: as many as --kills.
    #[arg(long)]
    pub stops: Option<u32>,
    /// Time between the end of one pause and the next.
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    pub stop_every: Duration,
    /// The longest pause; each is drawn from 1 s to this (longer than REPLAY_LEASE, 4 s, now and
    /// then: its jobs are taken over while it sleeps).
    #[arg(long, default_value = "6s", value_parser = parse_duration)]
    pub stop_for: Duration,
    /// Chance that UiTPAS answers 503 to a registration or a cancellation, without doing it.
    #[arg(long, default_value_t = 0.3)]
    pub error_rate: f64,
    /// Chance that UiTPAS does a registration or a cancellation and then loses the answer.
    #[arg(long, default_value_t = 0.05)]
    pub drop_rate: f64,
    /// Chance that a registered (or pending) order's ticket sale is then cancelled.
    #[arg(long, default_value_t = 0.2)]
    pub cancel_rate: f64,
    /// Chance that an order is a hold before payment instead (`hold: {expiresIn: 2..4}`): then
    /// confirmed (half of them), released (a quarter) or left to expire (a quarter).
    #[arg(long, default_value_t = 0.2)]
    pub hold_rate: f64,
    /// Chance that the shop's webhook receiver answers a delivery 500 (while the faults last).
    #[arg(long, default_value_t = 0.2)]
    pub webhook_error_rate: f64,
    /// Chance that the webhook receiver hangs past WEBHOOK_TIMEOUT (1 s) before answering.
    #[arg(long, default_value_t = 0.1)]
    pub webhook_hang_rate: f64,
    /// Chance that the webhook receiver never takes an event: every delivery of it hangs past
    /// WEBHOOK_TIMEOUT, also once the faults are cleared, so the service must give it up after
    /// WEBHOOK_MAX_ATTEMPTS attempts.
    #[arg(long, default_value_t = 0.02)]
    pub webhook_dead_rate: f64,
    /// The replicas' WEBHOOK_MAX_ATTEMPTS: low, so that the dead events are given up within the run.
    #[arg(long, default_value_t = 8)]
    pub webhook_max_attempts: u32,
    /// Chance that UiTPAS holds a registration longer than UPSTREAM_TIMEOUT (1 s) and then carries
    /// it out, although the service gave up waiting.
    #[arg(long, default_value_t = 0.1)]
    pub delay_rate: f64,
    /// The longest of those delays; they are spread from just over UPSTREAM_TIMEOUT to this, so
    /// that some outlast REPLAY_LEASE (4 s). Must be shorter than --settle-window.
    #[arg(long, default_value = "6s", value_parser = parse_duration)]
    pub max_delay: Duration,
    /// How long the sandbox's access tokens live: short, so that the replicas fetch tokens often,
    /// also right before a registration's request (issue 27).
    #[arg(long, default_value = "3s", value_parser = parse_duration)]
    pub token_ttl: Duration,
    /// Chance that the token server answers late (by up to 90 % of UPSTREAM_TIMEOUT): a send then
    /// leaves that much after its attempt began, and its window must count from then.
    #[arg(long, default_value_t = 0.3)]
    pub token_delay_rate: f64,
    /// Chance that UiTPAS commits a registration later than the service's window
    /// (SETTLE_WINDOW + UPSTREAM_TIMEOUT + 1 s after the send): held that long, then carried out.
    /// Such a sale can be registered twice (README, Exactly once, limits): the campaign checks
    /// that no double is left at the end (`doubles_left`).
    #[arg(long, default_value_t = 0.02)]
    pub late_rate: f64,
    /// How long after the window's end the latest of those commits lands (each is drawn from
    /// 0.5 s after the end to this).
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pub late_by: Duration,
    /// The replicas' SETTLE_WINDOW: longer than any delay, the rule's assumption (README, Exactly once).
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub settle_window: Duration,
    /// Chance that the box office (another UiTPAS client) sells the same pass, event, tariff and
    /// price as an order while that order waits (in flight, or answered 202).
    #[arg(long, default_value_t = 0.2)]
    pub box_office_rate: f64,
    /// Sales another client makes on the busy event (the first one) during the load, at least;
    /// 0: no busy event.
    #[arg(long, default_value_t = 600)]
    pub busy_sales: usize,
    /// Time between two sales on the busy event (it goes on until the load is done).
    #[arg(long, default_value = "20ms", value_parser = parse_duration)]
    pub busy_every: Duration,
    /// Times PostgreSQL itself is stopped with `-m immediate` (a crash) and started again during
    /// the load.
    #[arg(long, default_value_t = 2)]
    pub pg_crashes: u32,
    /// How long PostgreSQL stays down at each crash before it is started again.
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    pub pg_down: Duration,
    /// The local cluster that --postgres points at, as `<version> <name>` for pg_ctlcluster;
    /// default: the first version in /etc/postgresql, cluster main.
    #[arg(long)]
    pub pg_cluster: Option<String>,
    /// How long the ledger may take to settle once UiTPAS has recovered (`120s`, `2m`).
    #[arg(long, default_value = "120s", value_parser = parse_duration)]
    pub settle_timeout: Duration,
    /// The service binary; default: `uitpas-checkout` beside this example's profile directory.
    #[arg(long)]
    pub binary: Option<PathBuf>,
    /// The PostgreSQL server (trust auth); the campaign makes a database of its own on it.
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432")]
    pub postgres: String,
    /// Keep the campaign's database at the end (its name is printed).
    #[arg(long)]
    pub keep_db: bool,
    /// Where the replica logs and result.json go.
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/chaos/logs"))]
    pub logs: PathBuf,
}

pub fn parse_duration(s: &str) -> Result<Duration, String> {
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

impl Options {
    /// Reward redemptions to make: `--redemptions`, or one per ten orders.
    pub fn redemptions(&self) -> usize {
        self.redemptions.unwrap_or(self.sales / 10)
    }

    /// SIGSTOPs to make: `--stops`, or as many as `--kills`.
    pub fn stops(&self) -> u32 {
        self.stops.unwrap_or(self.kills)
    }

    /// How long after a send's recorded start UiTPAS may commit it by the service's rule
    /// (README, Exactly once, rule 5): `SETTLE_WINDOW + UPSTREAM_TIMEOUT + 1 s`.
    pub fn window(&self) -> Duration {
        self.settle_window + UPSTREAM_TIMEOUT + Duration::from_secs(1)
    }

    /// Whether a fault of the run can make UiTPAS commit a send after its window (a late answer,
    /// or a replica paused between recording a send and writing it): then a double can be made,
    /// and must be undone (it may be cancelled, never left active).
    pub fn beyond_window(&self) -> bool {
        self.late_rate > 0.0 || self.stops() > 0
    }

    /// Refuses options the campaign cannot run with.
    pub fn check(&self) -> anyhow::Result<()> {
        if self.sales == 0 || self.replicas == 0 || self.events == 0 {
            bail!("--sales, --replicas and --events must be at least 1");
        }
        if self.max_delay >= self.settle_window {
            bail!(
                "--max-delay ({:?}) must be shorter than --settle-window ({:?}): the service assumes that UiTPAS commits within SETTLE_WINDOW or never (--late-rate makes the later commits)",
                self.max_delay,
                self.settle_window
            );
        }
        if self.settle_window <= UPSTREAM_TIMEOUT {
            bail!("--settle-window must be longer than UPSTREAM_TIMEOUT ({UPSTREAM_TIMEOUT:?})");
        }
        if self.late_by < Duration::from_millis(500) {
            bail!("--late-by must be 0.5 s at least");
        }
        if self.window() + self.late_by >= OTHERS_TIMEOUT {
            bail!(
                "the latest commit ({:?} after the send) must come before the other clients give up waiting ({OTHERS_TIMEOUT:?})",
                self.window() + self.late_by
            );
        }
        if self.stop_for < Duration::from_secs(1) || self.stop_for >= REQUEST_TIMEOUT {
            bail!("--stop-for must be 1 s at least and shorter than the shop's request timeout ({REQUEST_TIMEOUT:?})");
        }
        if self.webhook_max_attempts == 0 {
            bail!("--webhook-max-attempts must be at least 1");
        }
        for (name, p) in [
            ("--error-rate", self.error_rate),
            ("--drop-rate", self.drop_rate),
            ("--cancel-rate", self.cancel_rate),
            ("--hold-rate", self.hold_rate),
            ("--webhook-error-rate", self.webhook_error_rate),
            ("--webhook-hang-rate", self.webhook_hang_rate),
            ("--webhook-dead-rate", self.webhook_dead_rate),
            ("--delay-rate", self.delay_rate),
            ("--late-rate", self.late_rate),
            ("--token-delay-rate", self.token_delay_rate),
            ("--box-office-rate", self.box_office_rate),
        ] {
            if !(0.0..=1.0).contains(&p) {
                bail!("{name} is a chance, between 0 and 1, not {p}");
            }
        }
        if self.delay_rate + self.late_rate > 1.0 {
            bail!("--delay-rate and --late-rate together must not exceed 1");
        }
        Ok(())
    }
}

pub fn print_header(options: &Options) {
    let nproc = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!("== chaos: fault campaign of uitpas-checkout");
    println!(
        "date        {}",
        chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    );
    println!("machine     nproc={nproc}");
    println!(
        "options     sales={} redemptions={} concurrency={} events={} replicas={} kills={} kill-every={:?} error-rate={} drop-rate={} cancel-rate={} settle-timeout={:?}{}",
        options.sales,
        options.redemptions(),
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
        "            stops={} stop-every={:?} stop-for={:?} late-rate={} late-by={:?} webhook-error-rate={} webhook-hang-rate={} webhook-dead-rate={} webhook-max-attempts={}",
        options.stops(),
        options.stop_every,
        options.stop_for,
        options.late_rate,
        options.late_by,
        options.webhook_error_rate,
        options.webhook_hang_rate,
        options.webhook_dead_rate,
        options.webhook_max_attempts,
    );
    println!(
        "replicas    UPSTREAM_TIMEOUT={UPSTREAM_TIMEOUT:?} REPLAY_LEASE={REPLAY_LEASE:?} SETTLE_WINDOW={:?} (window {:?}) WEBHOOK_MAX_ATTEMPTS={}",
        options.settle_window,
        options.window(),
        options.webhook_max_attempts
    );
}
