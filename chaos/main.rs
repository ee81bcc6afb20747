//! The fault campaign: real `uitpas-checkout` replicas on one database, registering and cancelling
//! thousands of sales against a sandbox that fails, loses answers after committing, answers late
//! (also past the service's window), and whose replicas are SIGKILLed and paused at random while
//! PostgreSQL crashes under them. At the end the shop's view, the ledger and UiTPAS's own ledger
//! must agree: nothing the shop was told about is lost, nothing is registered twice (or no double
//! is left), every cancellation is settled, every webhook event is delivered or given up. See
//! chaos/README.md; run it with `chaos/run`.
//!
//! The parts: [`options`] (and the header), [`replicas`] (process control: start, SIGKILL,
//! SIGSTOP/SIGCONT), [`postgres`] (the database, the crashes), [`upstream`] (the sandbox and its
//! faults), [`receiver`] (the shop's webhook endpoint), [`others`] (other UiTPAS clients),
//! [`load`], [`rewards`] and [`readback`] (the shop's requests), [`drive`] (the load phase with
//! its faults), [`settle`] (the end state), [`verdict`] and [`verdict_rewards`] (the checks and
//! counts), [`report`] (the result).

// The result block is one `json!` literal, deeper than the default limit allows.
#![recursion_limit = "256"]

mod drive;
mod load;
mod options;
mod others;
mod postgres;
mod readback;
mod receiver;
mod replicas;
mod report;
mod rewards;
mod settle;
mod upstream;
mod verdict;
mod verdict_rewards;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;
use uitpas_checkout::sandbox::{self, RunningSandbox, SandboxConfig};

use crate::load::Load;
use crate::options::{Options, print_header};
use crate::others::Others;
use crate::postgres::{Postgres, create_database, drop_database};
use crate::receiver::Receiver;
use crate::replicas::{Fleet, default_binary, watcher};
use crate::report::{Outcome, others_sales};
use crate::rewards::RewardLoad;
use crate::settle::{read_deliveries, read_ledger, read_webhook_events, settle};
use crate::upstream::{
    active_sales, clear_faults, create_events, rotate_delays, sandbox_stats, sandbox_token, set_faults, uitpas_ledger,
};
use crate::verdict::{UitpasView, judge, judge_holds, judge_webhooks};
use crate::verdict_rewards::{judge_rewards, read_reward_rows, uitpas_redemptions};

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
/// (Five seconds were too few: in one CI run six `database-unavailable` answers came just after.)
const OUTAGE_GRACE: Duration = Duration::from_secs(10);
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

/// The campaign proper; `Ok(true)` when the verdict passes.
async fn run(
    options: &Options,
    sandbox: &RunningSandbox,
    db_name: &str,
    fleet_slot: &mut Option<Arc<Fleet>>,
    pg: Option<Arc<Postgres>>,
    started: Instant,
) -> anyhow::Result<bool> {
    options.check()?;
    let binary = match &options.binary {
        Some(b) => b.clone(),
        None => default_binary()?,
    };
    if !binary.is_file() {
        bail!("no service binary at {} (build it, or pass --binary)", binary.display());
    }
    prepare_logs(options)?;
    let base = sandbox.base_url();
    println!(
        "binary      {}\nlogs        {}\nsandbox     {base}",
        binary.display(),
        options.logs.display()
    );
    let http = reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .pool_max_idle_per_host(options.concurrency.max(1) * 2)
        .build()?;

    // 2. events; 3. the shop's webhook receiver, the replicas.
    let events = create_events(&http, &base, options.events).await?;
    println!("events      {} created", events.len());
    let (receiver, receiver_url, receiver_task) = start_receiver(options).await?;
    let database_url = format!("{}/{db_name}", options.postgres);
    let fleet = Arc::new(Fleet::new(
        options,
        binary,
        &database_url,
        &base,
        &receiver_url,
        started,
        pg.clone(),
    ));
    *fleet_slot = Some(fleet.clone());
    start_replicas(&fleet, options).await?;
    let db = sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .connect(&database_url)
        .await
        .context("connecting to the campaign's database")?;

    // 4. faults, and the other clients of UiTPAS
    set_faults(&http, &base, options).await?;
    print_faults(options);
    let rotation = (options.delay_rate + options.late_rate > 0.0 || options.token_delay_rate > 0.0)
        .then(|| tokio::spawn(rotate_delays(http.clone(), base.clone(), options.clone())));
    let others = if options.box_office_rate > 0.0 || options.busy_sales > 0 {
        Some(Arc::new(Others::new(&base).await?))
    } else {
        None
    };

    // 5 to 9. the load, with the killer, the pauses, the crashes, the other clients, read-backs
    let load = Arc::new(Load::new(
        http.clone(),
        fleet.clone(),
        events,
        options,
        others.clone(),
        pg.clone(),
    ));
    let rewards = Arc::new(RewardLoad::new(load.clone(), options.redemptions()));
    rewards.give_points(&http, &base).await?;
    println!(
        "rewards     {} redemptions (reward {} and, one in ten, the weekly {}) over {} passes of {} points",
        rewards.count,
        rewards::POINTS_REWARD,
        rewards::WEEKLY_REWARD,
        rewards.passes.len(),
        rewards::POINTS
    );
    let campaign = Campaign {
        options,
        http,
        base,
        fleet,
        receiver,
        load,
        rewards,
        others,
    };
    let watcher_task = tokio::spawn(watcher(campaign.fleet.clone()));
    let driven = drive::drive(
        options,
        &campaign.load,
        &campaign.rewards,
        &campaign.fleet,
        &campaign.receiver,
        pg,
        db_name,
    )
    .await;

    // 10. recovery; 11. verdict
    let settled = campaign.recover(&db, rotation).await?;
    watcher_task.abort();
    let passed = campaign.conclude(&db, &driven, settled).await;
    receiver_task.abort();
    passed
}

/// What the phases after the load share.
struct Campaign<'a> {
    options: &'a Options,
    http: reqwest::Client,
    base: String,
    fleet: Arc<Fleet>,
    receiver: Arc<Receiver>,
    load: Arc<Load>,
    rewards: Arc<RewardLoad>,
    others: Option<Arc<Others>>,
}

impl Campaign<'_> {
    /// Clears the faults (UiTPAS's, the receiver's) and waits for the ledger to settle; then
    /// reads back every order told 201 once more. How long the settling took (`None`: not in time).
    async fn recover(
        &self,
        db: &sqlx::PgPool,
        rotation: Option<tokio::task::JoinHandle<()>>,
    ) -> anyhow::Result<Option<Duration>> {
        if let Some(rotation) = rotation {
            rotation.abort();
            let _ = rotation.await;
        }
        clear_faults(&self.http, &self.base).await?;
        self.receiver.faulty.store(false, Ordering::SeqCst);
        println!("faults cleared (UiTPAS and the webhook receiver); waiting for the ledger to settle");
        let settled = settle(db, &self.http, &self.base, self.options.settle_timeout).await?;
        let told_all = self.load.told.lock().unwrap_or_else(|e| e.into_inner()).clone();
        println!("reading back the {} orders told 201", told_all.len());
        self.load.recheck_many(told_all, 16).await;
        Ok(settled)
    }

    /// Reads the end state (the database, UiTPAS, the deliveries as the shop reads them), judges
    /// it and reports; whether the verdict passes.
    async fn conclude(
        &self,
        db: &sqlx::PgPool,
        driven: &drive::Driven,
        settled: Option<Duration>,
    ) -> anyhow::Result<bool> {
        let (orders_pending_at_end,): (i64,) =
            sqlx::query_as("SELECT count(*) FROM registrations WHERE status = 'pending'")
                .fetch_one(db)
                .await?;
        let uitpas = uitpas_ledger(&self.http, &self.base).await?;
        let (upstream_calls, _) = sandbox_stats(&self.http, &self.base).await?;
        let ledger = read_ledger(db).await?;
        let reward_rows = read_reward_rows(db).await?;
        let redeemed = uitpas_redemptions(&self.http, &self.base).await?;
        let webhook_events = read_webhook_events(db).await?;
        db.close().await;
        let deliveries = read_deliveries(&self.load).await?;
        let token = sandbox_token(&self.http, &self.base, "chaos", "chaos-secret").await?;
        let events = &self.load.events;
        let listed = active_sales(&self.http, &self.base, &token, events).await?;
        let busy_listed = listed.values().filter(|(event, _)| *event == events[0]).count();
        let others_ids = others_sales(self.others.as_deref(), &uitpas.labels);
        let view = UitpasView {
            status: &uitpas.status,
            labels: &uitpas.labels,
            created: &uitpas.created,
            others: &others_ids,
            beyond_window: self.options.beyond_window(),
        };
        let accepted = self.receiver.accepted().clone();
        let outcome = Outcome {
            options: self.options,
            driven,
            load: &self.load,
            fleet: &self.fleet,
            receiver: &self.receiver,
            others: self.others.as_deref(),
            settled,
            orders_pending_at_end,
            ledger: &ledger,
            uitpas: &uitpas,
            others_ids: &others_ids,
            upstream_calls,
            busy_listed,
            webhook_events: &webhook_events,
            verdict: judge(&driven.orders, &ledger, &view),
            hold_verdict: judge_holds(&driven.holds, &ledger, &uitpas.status),
            webhooks: judge_webhooks(
                &webhook_events,
                &accepted,
                &deliveries,
                &|id| self.receiver.never_takes(id),
                self.options.webhook_max_attempts,
            ),
            rewards: judge_rewards(
                &driven.redemptions,
                &reward_rows,
                &redeemed,
                self.options.window(),
                self.options.late_by,
                self.options.beyond_window(),
            ),
            reward_rows: &reward_rows,
            uitpas_redemptions: &redeemed,
        };
        outcome.report()
    }
}

/// The shop's webhook receiver, listening: it, its URL, its task.
async fn start_receiver(options: &Options) -> anyhow::Result<(Arc<Receiver>, String, tokio::task::JoinHandle<()>)> {
    let receiver = Arc::new(Receiver::new(
        options.webhook_error_rate,
        options.webhook_hang_rate,
        options.webhook_dead_rate,
    ));
    let (addr, task) = receiver.start().await?;
    println!(
        "webhooks    http://{addr}/webhooks: 500 p={}, hangs {WEBHOOK_HANG:?} p={} (WEBHOOK_TIMEOUT {WEBHOOK_TIMEOUT:?}), never takes an event p={} (WEBHOOK_MAX_ATTEMPTS {}); every signature verified",
        options.webhook_error_rate, options.webhook_hang_rate, options.webhook_dead_rate, options.webhook_max_attempts
    );
    Ok((receiver, format!("http://{addr}/webhooks"), task))
}

/// Makes the log directory, empty of a former run's logs and result.
fn prepare_logs(options: &Options) -> anyhow::Result<()> {
    std::fs::create_dir_all(&options.logs).with_context(|| format!("creating {}", options.logs.display()))?;
    // The logs are output, never sources: keep them out of git without touching .gitignore.
    std::fs::write(options.logs.join(".gitignore"), "*\n")?;
    for entry in std::fs::read_dir(&options.logs)?.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if (name.starts_with("replica-") && name.ends_with(".log")) || name == "result.json" {
            std::fs::remove_file(entry.path())?;
        }
    }
    Ok(())
}

/// The first replica alone (it applies the migrations), then the others.
async fn start_replicas(fleet: &Arc<Fleet>, options: &Options) -> anyhow::Result<()> {
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
    Ok(())
}

fn print_faults(options: &Options) {
    println!(
        "faults      post/delete-ticket-sales: 503 p={} and drop-after-commit p={}; get-ticket-sales: 503 p=0.1",
        options.error_rate, options.drop_rate
    );
    println!(
        "            post-ticket-sales: delayed p={} by {:?}..{:?}, then carried out (UPSTREAM_TIMEOUT {UPSTREAM_TIMEOUT:?}, REPLAY_LEASE {REPLAY_LEASE:?}, SETTLE_WINDOW {:?})",
        options.delay_rate,
        UPSTREAM_TIMEOUT + Duration::from_millis(200),
        options.max_delay,
        options.settle_window
    );
    println!(
        "            post-ticket-sales: committed past the window p={} by {:?}..{:?} (window {:?})",
        options.late_rate,
        options.window() + Duration::from_millis(500),
        options.window() + options.late_by,
        options.window()
    );
    println!(
        "            post-oauth-token: delayed p={} by up to {:?} (tokens live {:?})",
        options.token_delay_rate,
        UPSTREAM_TIMEOUT * 9 / 10,
        options.token_ttl
    );
    println!(
        "replicas    {} SIGKILLs {:?} apart; {} pauses (SIGSTOP) of 1 s to {:?}, {:?} apart",
        options.kills,
        options.kill_every,
        options.stops(),
        options.stop_for,
        options.stop_every
    );
}
