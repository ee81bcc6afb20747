//! The sandbox's test hooks (`/_sandbox/…`), and its UiTPAS API called as another client: one
//! request function that every test reads and sets the sandbox through.

use reqwest::Method;
use serde_json::{Value, json};
use uitpas_checkout::sandbox::RunningSandbox;

/// A sandbox, by its address: a running one, or the address of one (the service's embedded one).
pub trait Sandbox {
    fn url(&self) -> String;
}

impl Sandbox for RunningSandbox {
    fn url(&self) -> String {
        self.base_url()
    }
}

impl<S: Sandbox + ?Sized> Sandbox for std::sync::Arc<S> {
    fn url(&self) -> String {
        (**self).url()
    }
}

impl Sandbox for str {
    fn url(&self) -> String {
        self.to_owned()
    }
}

/// `method` on the sandbox's `path` (with `token`, as a UiTPAS client; without, a test hook), with
/// `body` as JSON. The answer must be a success: its JSON body, or null when it has none.
pub async fn sandbox_call(
    sandbox: &(impl Sandbox + ?Sized),
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> Value {
    let mut request = reqwest::Client::new().request(method.clone(), format!("{}{path}", sandbox.url()));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(body);
    }
    let answer = request.send().await.expect("the sandbox answers");
    let status = answer.status();
    let bytes = answer.bytes().await.expect("a whole body");
    assert!(
        status.is_success(),
        "{method} {path}: {status} {}",
        String::from_utf8_lossy(&bytes)
    );
    if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).expect("a JSON body")
    }
}

/// GET of a test hook (`/_sandbox/stats`, `/_sandbox/ledger`, …): its JSON.
pub async fn sandbox_get(sandbox: &(impl Sandbox + ?Sized), path: &str) -> Value {
    sandbox_call(sandbox, Method::GET, path, None, None).await
}

/// PUT of a test hook (a pass's points, a client's permissions, a fault).
pub async fn sandbox_put(sandbox: &(impl Sandbox + ?Sized), path: &str, body: Value) -> Value {
    sandbox_call(sandbox, Method::PUT, path, None, Some(&body)).await
}

/// What publiq lets `client` do for `organizer`, from now on (replacing what it could before).
pub async fn grant(sandbox: &(impl Sandbox + ?Sized), client: &str, organizer: &str, permissions: &[&str]) {
    sandbox_put(
        sandbox,
        &format!("/_sandbox/clients/{client}/permissions"),
        json!([{"organizerId": organizer, "permissions": permissions}]),
    )
    .await;
}

/// How many requests `sandbox` has seen for an operationId.
pub async fn operation_count(sandbox: &(impl Sandbox + ?Sized), operation: &str) -> u64 {
    sandbox_get(sandbox, "/_sandbox/stats").await["operations"][operation]
        .as_u64()
        .expect("a known operationId")
}

/// Every ticket sale `sandbox` holds.
pub async fn sandbox_ledger(sandbox: &(impl Sandbox + ?Sized)) -> Vec<Value> {
    sandbox_get(sandbox, "/_sandbox/ledger").await["ticketSales"]
        .as_array()
        .expect("the sandbox's sales")
        .clone()
}

/// Sets a fault at `sandbox` ([`super::TestApp::fault`]).
pub async fn sandbox_fault(sandbox: &(impl Sandbox + ?Sized), fault: Value) {
    sandbox_put(sandbox, "/_sandbox/faults", fault).await;
}

pub async fn clear_sandbox_faults(sandbox: &(impl Sandbox + ?Sized)) {
    sandbox_call(sandbox, Method::DELETE, "/_sandbox/faults", None, None).await;
}

/// Sets the points of pass `number` at `sandbox`.
pub async fn set_points(sandbox: &(impl Sandbox + ?Sized), number: &str, points: u32) {
    sandbox_put(
        sandbox,
        &format!("/_sandbox/passes/{number}/points"),
        json!({"points": points}),
    )
    .await;
}

/// What the test client may do for the test organizer: a checkout's permissions, and reading
/// (`read`) and redeeming (`redeem`) rewards, or not.
pub async fn grant_rewards(sandbox: &(impl Sandbox + ?Sized), redeem: bool, read: bool) {
    let mut granted = vec!["TARIFFS_READ", "TICKETSALES_REGISTER", "TICKETSALES_SEARCH"];
    if read {
        granted.push("REWARDS_READ");
    }
    if redeem {
        granted.push("REWARDS_REDEEM");
    }
    grant(sandbox, "test-client", super::fixtures::TEST_ORGANIZER, &granted).await;
}
