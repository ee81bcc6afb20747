//! A development run (`cargo run`: no UiTPAS credentials, no shop keys) keeps what it made across
//! restarts: the embedded sandbox's events, sales and check-ins, its address, and the shop key.

mod common;

use std::net::{SocketAddr, TcpListener};
use std::time::Duration;

use common::{TestDatabase, read};
use serde_json::{Value, json};
use uitpas_checkout::Config;
use uitpas_checkout::config::HumanDuration;

const PASS: &str = "0900000067513";

/// One start of the service on the embedded sandbox.
struct Run {
    addr: SocketAddr,
    sandbox: String,
    key: String,
    http: reqwest::Client,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Run {
    async fn start(config: &Config) -> Run {
        let app = uitpas_checkout::build(config.clone()).await.expect("the app builds");
        let key = app.state().config.shop_api_keys.as_ref().expect("a development key").0[0]
            .expose()
            .to_owned();
        let sandbox = app.sandbox_url().expect("the embedded sandbox runs");
        let addr = app.local_addr();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(app.run_until(async move {
            let _ = stopped.await;
        }));
        Run {
            addr,
            sandbox,
            key,
            http: reqwest::Client::new(),
            stop,
            task,
        }
    }

    async fn restart(self, config: &Config) -> Run {
        let _ = self.stop.send(());
        self.task
            .await
            .expect("the app task ends")
            .expect("the app stops cleanly");
        Run::start(config).await
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
        key: Option<&str>,
    ) -> common::Answer {
        let mut request = self
            .http
            .request(method, format!("http://{}{path}", self.addr))
            .bearer_auth(&self.key);
        if let Some(body) = body {
            request = request.json(&body);
        }
        if let Some(key) = key {
            request = request.header("idempotency-key", key);
        }
        read(request.send().await.expect("the app answers")).await
    }

    /// The sandbox's own view of a pass (its points) and its ledger of ticket sales.
    async fn sandbox_points_and_ledger(&self) -> (i64, Vec<Value>) {
        let token = common::sandbox_token(&self.http, &self.sandbox, "t").await;
        let pass = common::sandbox_call(
            self.sandbox.as_str(),
            reqwest::Method::GET,
            &format!("/passes/{PASS}"),
            Some(&token),
            None,
        )
        .await;
        let ledger = common::sandbox_get(self.sandbox.as_str(), "/_sandbox/ledger").await;
        (
            pass["points"].as_i64().expect("points"),
            ledger["ticketSales"].as_array().cloned().unwrap_or_default(),
        )
    }
}

/// The settings of `cargo run`: no credentials, no shop keys; the worker idle (nothing is pending).
fn development(db: &TestDatabase) -> Config {
    let mut config = Config::for_tests(&db.url);
    config.replay_poll_interval = HumanDuration(Duration::from_secs(3600));
    config
}

fn status_of<'a>(ledger: &'a [Value], uitpas_sale: &str) -> Option<&'a str> {
    ledger.iter().find(|s| s["id"] == uitpas_sale)?["status"].as_str()
}

#[tokio::test]
async fn the_embedded_sandbox_keeps_events_sales_and_checkins_and_the_shop_key_stays_across_restarts() {
    let db = TestDatabase::create().await;
    let config = development(&db);
    let first = Run::start(&config).await;
    assert!(first.key.starts_with("dev_"), "a development key");

    // An event made through the Entry API, a sale on it and a check-in at it.
    let activity = first
        .call(
            reqwest::Method::PUT,
            "/v1/activities/restart-camp",
            Some(json!({
                "name": {"nl": "Kamp"}, "mainLanguage": "nl", "calendar": {"type": "permanent"},
                "locationId": "c3f9278e-228b-4199-8f9a-b9716a17e58f",
                "organizerId": "0ce87cbc-9299-4528-8d35-92225dc9489f",
                "eventTypeId": "0.57.0.0.0", "basePrice": 10
            })),
            None,
        )
        .await;
    assert_eq!(activity.status, 201, "{}", activity.body);
    let event = activity.body["eventId"].as_str().unwrap().to_owned();
    let order = json!({"orderId": "restart-1", "tickets": [
        {"eventId": event, "uitpasNumber": PASS, "tariffId": "kansentarief-regio-gent", "regularPrice": 10}]});
    let registered = first
        .call(
            reqwest::Method::POST,
            "/v1/registrations",
            Some(order),
            Some("restart-1"),
        )
        .await;
    assert_eq!(registered.status, 201, "{}", registered.body);
    let sale = registered.body["ticketSales"][0]["id"].as_str().unwrap().to_owned();
    let uitpas_sale = registered.body["ticketSales"][0]["uitpasTicketSaleId"]
        .as_str()
        .unwrap()
        .to_owned();
    let checkin = first
        .call(
            reqwest::Method::PATCH,
            &format!("/v1/ticket-sales/{sale}"),
            Some(json!({"checkedIn": true})),
            None,
        )
        .await;
    assert_eq!(checkin.status, 200, "{}", checkin.body);
    let (points, _) = first.sandbox_points_and_ledger().await;
    let key = first.key.clone();

    let second = first.restart(&config).await;
    assert_eq!(second.key, key, "the same shop key after a restart");
    let participation = second
        .call(reqwest::Method::GET, &format!("/v1/events/{event}/uitpas"), None, None)
        .await;
    assert_eq!(participation.status, 200, "the event is known: {}", participation.body);
    assert_eq!(participation.body["enabled"], true);
    let tariffs = second
        .call(
            reqwest::Method::GET,
            &format!("/v1/tariffs?eventId={event}&uitpasNumber={PASS}&regularPrice=10"),
            None,
            None,
        )
        .await;
    assert_eq!(tariffs.status, 200, "{}", tariffs.body);
    assert_eq!(
        tariffs.body["available"][0]["remaining"], 99,
        "the sale still counts against the limit: {}",
        tariffs.body
    );
    let (points_after, ledger) = second.sandbox_points_and_ledger().await;
    assert_eq!(points_after, points, "the check-in's point is kept");
    assert_eq!(status_of(&ledger, &uitpas_sale), Some("ACTIVE"), "{ledger:?}");

    // A cancellation is kept too.
    let cancelled = second
        .call(reqwest::Method::DELETE, &format!("/v1/ticket-sales/{sale}"), None, None)
        .await;
    assert_eq!(cancelled.status, 204, "{}", cancelled.body);
    let third = second.restart(&config).await;
    let (_, ledger) = third.sandbox_points_and_ledger().await;
    assert_eq!(status_of(&ledger, &uitpas_sale), Some("CANCELLED"), "{ledger:?}");
    let _ = third.stop.send(());
    let _ = third.task.await;
}

/// A port that is free, with the next one free too.
fn two_free_ports() -> u16 {
    loop {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        if port < u16::MAX && TcpListener::bind(("127.0.0.1", port + 1)).is_ok() {
            return port;
        }
    }
}

#[tokio::test]
async fn the_embedded_sandbox_listens_on_the_port_after_the_service_and_elsewhere_when_it_is_taken() {
    let db = TestDatabase::create().await;
    let mut config = development(&db);
    let port = two_free_ports();
    config.listen_addr = SocketAddr::from(([127, 0, 0, 1], port));
    let wanted = format!("http://127.0.0.1:{}", port + 1);

    let first = Run::start(&config).await;
    assert_eq!(first.sandbox, wanted);
    let second = first.restart(&config).await;
    assert_eq!(second.sandbox, wanted, "the same address after a restart");

    // Something else holds the port: the sandbox starts elsewhere rather than not at all.
    let _ = second.stop.send(());
    second.task.await.unwrap().unwrap();
    let _taken = TcpListener::bind(("127.0.0.1", port + 1)).expect("the port is free again");
    let third = Run::start(&config).await;
    assert_ne!(third.sandbox, wanted);
    let token = third
        .http
        .post(format!("{}/oauth/token", third.sandbox))
        .json(&json!({"grant_type": "client_credentials", "client_id": "t", "client_secret": "t"}))
        .send()
        .await
        .unwrap();
    assert_eq!(token.status(), 200, "the sandbox answers on its other port");
    let _ = third.stop.send(());
    let _ = third.task.await;
}
