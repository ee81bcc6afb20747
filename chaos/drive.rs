//! The load phase: the orders and holds, and at the same time the killer, the pauses, the
//! PostgreSQL crashes, the busy event's seller, the read-backs and the progress lines.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::load::{HoldRecord, Load, OrderRecord, run_load};
use crate::options::Options;
use crate::others::{Seller, busy_seller};
use crate::postgres::{Postgres, pg_crasher};
use crate::readback::rereader;
use crate::receiver::Receiver;
use crate::replicas::{Fleet, killer, stopper};
use crate::rewards::{RedemptionRecord, RewardLoad, run_redemptions};

/// What the load phase did.
pub struct Driven {
    pub orders: Vec<OrderRecord>,
    pub holds: Vec<HoldRecord>,
    pub redemptions: Vec<RedemptionRecord>,
    pub load_seconds: f64,
    pub kills: u64,
    pub stops: u64,
    pub pg_crashes: u64,
}

/// Runs the load with every fault that goes with it, and waits until the killer, the pauses,
/// the crashes and the busy event's seller are done too.
pub async fn drive(
    options: &Options,
    load: &Arc<Load>,
    rewards: &Arc<RewardLoad>,
    fleet: &Arc<Fleet>,
    receiver: &Arc<Receiver>,
    pg: Option<Arc<Postgres>>,
    db_name: &str,
) -> Driven {
    let kills = Arc::new(AtomicU64::new(0));
    let stops = Arc::new(AtomicU64::new(0));
    let load_started = Instant::now();
    let killer_task = tokio::spawn(killer(fleet.clone(), options.kills, options.kill_every, kills.clone()));
    let stopper_task = tokio::spawn(stopper(
        fleet.clone(),
        options.stops(),
        options.stop_every,
        options.stop_for,
        stops.clone(),
    ));
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
    let busy_task = match (&load.others, options.busy_sales) {
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
    let progress_task = tokio::spawn(progress(
        load.clone(),
        rewards.clone(),
        receiver.clone(),
        fleet.clone(),
        kills.clone(),
        stops.clone(),
        options.clone(),
    ));
    // The redemptions with a quarter as many in flight as the orders, spread over them.
    let redemptions_task = tokio::spawn(run_redemptions(
        rewards.clone(),
        options.sales,
        (options.concurrency / 4).max(1),
    ));
    let (orders, holds) = run_load(load.clone(), options.sales, options.concurrency).await;
    load.finished.store(true, Ordering::SeqCst);
    let redemptions = redemptions_task.await.unwrap_or_else(|e| {
        eprintln!("chaos: the redemptions failed: {e}");
        Vec::new()
    });
    let load_seconds = load_started.elapsed().as_secs_f64();
    println!(
        "load done in {load_seconds:.1} s; waiting for the killer, the pauses, the PostgreSQL crashes and the other sellers"
    );
    let _ = killer_task.await;
    let _ = stopper_task.await;
    if let Some(task) = crasher_task {
        let _ = task.await;
    }
    if let Some(task) = busy_task {
        let _ = task.await;
    }
    let _ = rereader_task.await;
    progress_task.abort();
    Driven {
        orders,
        holds,
        redemptions,
        load_seconds,
        kills: kills.load(Ordering::SeqCst),
        stops: stops.load(Ordering::SeqCst),
        pg_crashes: pg.as_ref().map_or(0, |pg| pg.crashes.load(Ordering::SeqCst)),
    }
}

/// A progress line every 5 s.
async fn progress(
    load: Arc<Load>,
    rewards: Arc<RewardLoad>,
    receiver: Arc<Receiver>,
    fleet: Arc<Fleet>,
    kills: Arc<AtomicU64>,
    stops: Arc<AtomicU64>,
    options: Options,
) {
    loop {
        tokio::time::sleep(Duration::from_secs(5)).await;
        let (box_office, busy) = load
            .others
            .as_ref()
            .map_or((0, 0), |o| (o.count(Seller::BoxOffice), o.count(Seller::Busy)));
        println!(
            "[{:6.1}s] orders {}/{} (201: {}, 202: {}, 4xx: {}) cancels {} holds {} (confirmed {}, released {}) redemptions {}/{} (201: {}, 202: {}, 409: {}) webhooks {} kills {}/{} stops {}/{} pg crashes {} live {} in flight {} retries {} others' sales {}+{} rereads {}",
            fleet.elapsed(),
            load.done.load(Ordering::Relaxed),
            options.sales,
            load.registered.load(Ordering::Relaxed),
            load.pending.load(Ordering::Relaxed),
            load.rejected.load(Ordering::Relaxed),
            load.cancels.load(Ordering::Relaxed),
            load.holds.load(Ordering::Relaxed),
            load.holds_confirmed.load(Ordering::Relaxed),
            load.holds_released.load(Ordering::Relaxed),
            rewards.done.load(Ordering::Relaxed),
            rewards.count,
            rewards.redeemed.load(Ordering::Relaxed),
            rewards.pending.load(Ordering::Relaxed),
            rewards.busy.load(Ordering::Relaxed),
            receiver.accepted().len(),
            kills.load(Ordering::Relaxed),
            options.kills,
            stops.load(Ordering::Relaxed),
            options.stops(),
            load.pg.as_ref().map_or(0, |pg| pg.crashes.load(Ordering::Relaxed)),
            fleet.live(),
            load.in_flight.load(Ordering::Relaxed),
            load.retries.load(Ordering::Relaxed),
            box_office,
            busy,
            load.rereads.load(Ordering::Relaxed),
        );
    }
}
