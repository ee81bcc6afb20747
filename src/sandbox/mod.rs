//! `uitpas-sandbox`: an offline stand-in for the UiTPAS API 4.0, publiq's token server and the
//! UiTdatabank Entry API 3.0, on one port, playing publiq's test dataset.
//!
//! It implements the upstream side of the contract and shares no code path with the client that
//! talks to it. Its clients, their organizers and permissions are in [`clients`]. Its own
//! additions live under `/_sandbox`: operation counters, the ledgers of ticket sales and of
//! redeemed rewards, points balances, fault injection (errors, delays, and answers lost after the
//! operation committed) and the permissions of each client.
//!
//! It runs as its own binary and in-process ([`spawn`]), which is how the tests and benchmarks use
//! it, in memory. The checkout service starts it in-process when no UiTPAS credentials are
//! configured ([`spawn_on`] with [`Sandbox::stored`]): then its memory is kept in the service's
//! database ([`store`]), so that a restarted service and its sandbox still agree.

// Problems are what the sandbox answers, built once per refused request: their size does not matter.
#![allow(clippy::result_large_err)]

pub mod checkins;
pub mod clients;
pub mod control;
pub mod dataset;
pub mod entry;
pub mod faults;
pub mod problem;
pub mod reports;
pub mod rewards;
pub mod state;
pub mod store;
pub mod uitpas;

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use axum::routing::{delete, get, post, put};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};
use tower::ServiceExt;

use control::{ConnectionKill, Stats};
use faults::Faults;
use problem::Problem;
use state::World;

pub use uitpas::DEFAULT_TOKEN_TTL;

/// The sandbox's shared state: cheap to clone, one per running sandbox.
#[derive(Clone)]
pub struct Sandbox {
    world: Arc<Mutex<World>>,
    stats: Arc<Stats>,
    faults: Arc<Faults>,
    /// The financial reports started ([`reports`]): in memory only.
    reports: Arc<Mutex<reports::Reports>>,
    token_ttl: Duration,
    /// Where changes are written before they are answered; `None`: in memory only.
    store: Option<store::Store>,
}

impl Sandbox {
    /// A sandbox in memory: it starts from the dataset every time.
    pub fn new(token_ttl: Duration) -> Self {
        Self {
            world: Arc::new(Mutex::new(World::new())),
            stats: Arc::default(),
            faults: Arc::default(),
            reports: Arc::default(),
            token_ttl,
            store: None,
        }
    }

    /// A sandbox that keeps its events, sales, check-ins, redeemed rewards and points set in the
    /// schema `uitpas_sandbox` of `db`, starting from what it holds.
    pub async fn stored(token_ttl: Duration, db: sqlx::PgPool) -> anyhow::Result<Self> {
        let (store, kept) = store::Store::open(db).await?;
        let sandbox = Self {
            store: Some(store),
            ..Self::new(token_ttl)
        };
        tracing::debug!(
            events = kept.events.len(),
            ticket_sales = kept.sales.len(),
            checkins = kept.checkins.len(),
            redeemed_rewards = kept.redemptions.len(),
            "the sandbox's memory is read from the database"
        );
        let mut world = sandbox.world();
        world.restore(kept.events, kept.sales, kept.checkins);
        world.restore_rewards(kept.redemptions, kept.points_changes);
        drop(world);
        Ok(sandbox)
    }

    /// Writes a change of the world to the store, when there is one, before it is answered. A
    /// change that cannot be written is answered as a 500: the caller must not take it as done.
    async fn keep(&self, change: store::Change<'_>) -> Result<(), Problem> {
        let Some(store) = &self.store else {
            return Ok(());
        };
        store.write(change).await.map_err(|e| {
            tracing::error!(error = %e, "the sandbox cannot write a change to its database");
            Problem::new(
                "about:blank",
                axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                "Internal Server Error",
            )
            .detail("The sandbox could not store the change.")
        })
    }

    /// The world, locked. Handlers hold it only for in-memory work, never across an await.
    fn world(&self) -> MutexGuard<'_, World> {
        // A panic while holding the lock leaves consistent data (every write is one step), so a
        // poisoned lock is still usable.
        self.world.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The financial reports, locked (never across an await).
    fn reports(&self) -> MutexGuard<'_, reports::Reports> {
        self.reports.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The HTTP routes of the sandbox.
    pub fn router(&self) -> Router {
        Router::new()
            // publiq's token path since 2026 (form body), and the old one it forwards (JSON or form).
            .route("/realms/uitid/protocol/openid-connect/token", post(uitpas::token))
            .route("/oauth/token", post(uitpas::token))
            .route("/passes/{uitpasNumber}", get(uitpas::pass_by_number))
            .route("/passes", get(uitpas::pass_by_identifier))
            .route("/tariffs", get(uitpas::tariffs))
            .route("/tariffs/static", get(uitpas::static_tariffs))
            .route("/ticket-sales", post(uitpas::register).get(uitpas::search_sales))
            .route("/ticket-sales/{ticketSaleId}", delete(uitpas::cancel))
            .route("/checkins", post(checkins::checkin).get(checkins::search_checkins))
            .route("/checkins/{checkinId}", delete(checkins::delete_checkin))
            .route("/checkin-status", get(checkins::checkin_status))
            .route("/events/{eventId}/card-systems", get(checkins::event_card_systems))
            .route("/permissions", get(uitpas::permissions))
            .route(
                "/organizers/{organizerId}/financial-reports/periods",
                get(reports::periods),
            )
            .route("/organizers/{organizerId}/financial-reports", post(reports::start))
            .route(
                "/organizers/{organizerId}/financial-reports/{reportId}",
                get(reports::status_or_zip),
            )
            .route(
                "/organizers/{organizerId}/financial-reports/{reportId}/download-link",
                get(reports::download_link),
            )
            .route("/rewards", get(rewards::search))
            .route("/rewards/{rewardId}", get(rewards::get))
            .route("/rewards/{rewardId}/redeem-status", get(rewards::redeem_status))
            .route("/rewards/redeemed", post(rewards::redeem).get(rewards::search_redeemed))
            .route("/rewards/redeemed/{redeemedRewardId}", delete(rewards::cancel))
            .route("/events", post(entry::create_event).get(entry::search_events))
            .route(
                "/events/{eventId}",
                get(entry::get_event)
                    .put(entry::update_event)
                    .delete(entry::delete_event),
            )
            .route("/events/{eventId}/price-info", put(entry::update_price_info))
            .route("/events/{eventId}/calendar", put(entry::update_calendar))
            .route("/events/{eventId}/status", put(entry::update_status))
            .route_layer(axum::middleware::from_fn_with_state(self.clone(), control::operations))
            .route("/_sandbox/stats", get(control::stats))
            .route("/_sandbox/ledger", get(control::ledger))
            .route("/_sandbox/rewards/redeemed", get(rewards::ledger))
            .route(
                "/_sandbox/passes/{uitpasNumber}/points",
                get(rewards::points).put(rewards::put_points),
            )
            .route(
                "/_sandbox/financial-reports/{organizerId}/{reportId}",
                get(reports::download),
            )
            .route(
                "/_sandbox/faults",
                put(faults::put_fault)
                    .delete(faults::clear_faults)
                    .get(faults::list_faults),
            )
            .route(
                "/_sandbox/clients/{clientId}/permissions",
                get(control::client_permissions)
                    .put(control::put_client_permissions)
                    .delete(control::reset_client_permissions),
            )
            .fallback(|| async { Problem::not_found_url() })
            .with_state(self.clone())
    }
}

/// How to run a sandbox.
#[derive(Debug, Clone)]
pub struct SandboxConfig {
    pub listen: SocketAddr,
    pub token_ttl: Duration,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 9090)),
            token_ttl: DEFAULT_TOKEN_TTL,
        }
    }
}

/// A sandbox serving in the background of this process.
pub struct RunningSandbox {
    addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl RunningSandbox {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:<port>`, the base URL of all three upstream APIs.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting connections, lets open ones finish their request, and waits.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        let _ = self.task.await;
    }
}

/// Binds `config.listen` (port 0 picks a free port) and serves a sandbox in memory in a background
/// task.
pub async fn spawn(config: SandboxConfig) -> std::io::Result<RunningSandbox> {
    let listener = TcpListener::bind(config.listen).await?;
    spawn_on(listener, Sandbox::new(config.token_ttl))
}

/// Serves `sandbox` on `listener` in a background task.
pub fn spawn_on(listener: TcpListener, sandbox: Sandbox) -> std::io::Result<RunningSandbox> {
    let addr = listener.local_addr()?;
    let (tx, mut rx) = watch::channel(false);
    let task = tokio::spawn(async move {
        serve(listener, sandbox, async move {
            let _ = rx.wait_for(|stop| *stop).await;
        })
        .await
    });
    Ok(RunningSandbox {
        addr,
        shutdown: tx,
        task,
    })
}

/// Serves the sandbox on `listener` until `shutdown` completes.
///
/// A hand-written accept loop rather than `axum::serve`: `drop-after-commit` needs a handler to be
/// able to close its own connection without answering, which each connection task allows through
/// a [`ConnectionKill`] handle put in the request's extensions.
pub async fn serve(
    listener: TcpListener,
    sandbox: Sandbox,
    shutdown: impl Future<Output = ()> + Send,
) -> std::io::Result<()> {
    let router = sandbox.router();
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::pin!(shutdown);
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    // Out of file descriptors and the like: wait a little instead of spinning.
                    tracing::warn!(error = %e, "sandbox accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        let mut stop = stop_rx.clone();
        tokio::spawn(async move {
            let kill = Arc::new(Notify::new());
            let handle = ConnectionKill(kill.clone());
            let service = hyper::service::service_fn(move |mut req: Request<Incoming>| {
                req.extensions_mut().insert(handle.clone());
                let router = router.clone();
                async move {
                    Ok::<_, Infallible>(
                        router
                            .oneshot(req.map(axum::body::Body::new))
                            .await
                            .unwrap_or_else(|e| match e {}),
                    )
                }
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service);
            tokio::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => {}
                // Dropping the connection closes the socket: the client sees no answer at all.
                () = kill.notified() => {}
                () = async { let _ = stop.wait_for(|s| *s).await; } => {
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.await;
                }
            }
        });
    }
    let _ = stop_tx.send(true);
    Ok(())
}
