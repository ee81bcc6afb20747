//! Black-box tests of `uitpas-sandbox`: every test starts its own sandbox in-process on a free
//! port and talks to it over real HTTP, as a client of publiq's APIs would. Every answer of a
//! UiTPAS API or Entry API operation (errors included) is validated against the schema that the
//! real OpenAPI documents in `tests/contracts/` declare for it.
//!
//! What is tested is the behaviour README.md ("The sandbox", "The dataset") promises.

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use common::contract::Contract;
use common::sandbox_client::{Auth, Body, Reply, SandboxClient, assert_end_user_message, media_type};
use reqwest::Method;
use serde_json::{Value, json};

// --- the dataset ------------------------------------------------------------------------------

const TEST_EVENT: &str = "5a0967f9-cc06-4c3c-9206-30481a767434";
const LIMITED_EVENT: &str = "d83b5b8a-108a-45d6-9ac9-8bdc44a0a24a";
const UNKNOWN_EVENT: &str = "00000000-0000-4000-8000-000000000000";
/// publiq's "Test event with no permission": of another organizer than the test organizer.
const NO_PERMISSION_EVENT: &str = "373d6cee-b4ae-4637-9b7c-eeb79e45f044";
const TEST_ORGANIZER: &str = "0ce87cbc-9299-4528-8d35-92225dc9489f";
/// The sandbox's own second organizer, of the no-permission event.
const OTHER_ORGANIZER: &str = "6f1a8c3e-2b4d-4e7f-9a0b-c5d6e7f8a9b0";
const TEST_ORGANIZER_URL: &str = "https://io-test.uitdatabank.be/organizers/0ce87cbc-9299-4528-8d35-92225dc9489f";

// --- the sandbox's clients (client id, secret) ------------------------------------------------

const CHECKOUT_CLIENT: (&str, &str) = ("uitpas-checkout-sandbox", "sandbox");
const CUSTOMER_B: (&str, &str) = ("sandbox-customer-b", "sandbox-b");
const NO_REGISTER: (&str, &str) = ("sandbox-no-register", "sandbox-nr");
/// What `uitpas-checkout-sandbox`, `sandbox-customer-b` and any unknown client may do.
const CHECKOUT_PERMISSIONS: [&str; 11] = [
    "CHECKINS_READ",
    "CHECKINS_WRITE",
    "EVENTS_READ",
    "PASSES_CHIPNUMBERS_READ",
    "PASSES_INSZNUMBERS_READ",
    "PASSES_READ",
    "REWARDS_READ",
    "REWARDS_REDEEM",
    "TARIFFS_READ",
    "TICKETSALES_REGISTER",
    "TICKETSALES_SEARCH",
];

const NO_SOCIAL: &str = "0900000095902";
const NO_SOCIAL_TOO: &str = "1000000520006";
const ACTIVE_GENT: &str = "0900000067513";
/// "Gentbrugge" in publiq's dataset; the sandbox plays it in its grace period.
const GRACE_PERIOD: &str = "0900010959113";
const EXPIRED_WITH_COUPON: &str = "0900000031618";
const EXPIRED: &str = "0900000058918";
const BLOCKED: &str = "0900000002312";
const ACTIVE_PASPARTOE: &str = "0900000093204";
const UNREGISTERED_ACTIVE: &str = "0900000074519";
const UNREGISTERED_NONE: &str = "0900000020405";
/// Online UiTPAS of family accounts: a parent without social tariff (publiq lists its child
/// under the same number, with the INSZ `FAMILY_CHILD_INSZ`), and a parent and child with one.
const FAMILY_PARENT: &str = "0900004518305";
const FAMILY_CHILD_INSZ: &str = "20010170215";
const FAMILY_ACTIVE_PARENT: &str = "0900011902815";
const FAMILY_ACTIVE_CHILD: &str = "0900011903417";
/// Numbers publiq's dataset had before 2026-02 (for GRACE_PERIOD and UNREGISTERED_NONE), kept.
const OLD_GRACE_PERIOD: &str = "0900000036112";
const OLD_UNREGISTERED_NONE: &str = "0900000075706";

/// publiq's dataset of 2026-02: (UiTPAS number, chip number, INSZ number).
const IDENTIFIERS: [(&str, Option<&str>, Option<&str>); 15] = [
    (NO_SOCIAL, Some("04784CDAEE3880"), Some("83030201540")),
    (ACTIVE_GENT, Some("04363CDAEE3880"), Some("36051380284")),
    (EXPIRED_WITH_COUPON, Some("04CEE7528E6180"), Some("66010101785")),
    (GRACE_PERIOD, Some("04ED6ACACF6180"), Some("08091860684")),
    (BLOCKED, Some("04B00412F15284"), Some("71030360442")),
    (EXPIRED, Some("045157B2B63780"), Some("17010180147")),
    (NO_SOCIAL_TOO, Some("045A4832633680"), Some("80010101392")),
    (ACTIVE_PASPARTOE, Some("045D69DAEE3880"), Some("10010105762")),
    (FAMILY_PARENT, None, Some("80010170282")),
    (FAMILY_ACTIVE_PARENT, None, Some("91063061055")),
    (FAMILY_ACTIVE_CHILD, None, Some("15021760024")),
    (UNREGISTERED_ACTIVE, Some("044AC54A8E6180"), None),
    (UNREGISTERED_NONE, Some("047E2EEA053B80"), None),
    (GROUP_ACTIVE, Some("04D0AB6AF85C80"), None),
    (GROUP_COUPON, Some("048B25DAEE3880"), None),
];
const GROUP_ACTIVE: &str = "0900000045410";
const GROUP_COUPON: &str = "0900000191800";
/// `ACTIVE_GENT` with its check digit off by one: fails the Luhn check.
const NOT_LUHN: &str = "0900000067514";

// --- publiq's problem types -------------------------------------------------------------------

const UNAUTHORIZED: &str = "https://api.publiq.be/probs/auth/unauthorized";
const FORBIDDEN: &str = "https://api.publiq.be/probs/auth/forbidden";
const BODY_MISSING: &str = "https://api.publiq.be/probs/body/missing";
const BODY_INVALID_SYNTAX: &str = "https://api.publiq.be/probs/body/invalid-syntax";
const BODY_INVALID_DATA: &str = "https://api.publiq.be/probs/body/invalid-data";
const QUERY_LIMIT_EXCEEDED: &str = "https://api.publiq.be/probs/url/query-limit-exceeded";

// --- the shared client (tests/common/sandbox_client.rs), with this file's operations --------------

impl Reply {
    /// `…/probs/body/invalid-data` whose `schemaErrors` name `what` (in a pointer or an error).
    #[track_caller]
    fn expect_invalid_data_naming(&self, what: &str) -> &Value {
        let body = self.expect_problem(400, BODY_INVALID_DATA);
        let errors = body["schemaErrors"]
            .as_array()
            .unwrap_or_else(|| panic!("invalid data lists schemaErrors: {body}"));
        assert!(
            errors.iter().any(|e| {
                e["jsonPointer"].as_str().is_some_and(|p| p.contains(what))
                    || e["error"].as_str().is_some_and(|m| m.contains(what))
            }),
            "no schema error names {what}: {body}"
        );
        body
    }
}

/// The sandbox, as the shop's client (`shop`) calls it.
type Sandbox = SandboxClient;

impl Sandbox {
    async fn start() -> Self {
        Self::start_with_ttl(Duration::from_secs(86_400)).await
    }

    async fn start_with_ttl(token_ttl: Duration) -> Self {
        SandboxClient::spawn(token_ttl, ("shop", "secret")).await
    }

    /// A fresh token from the client-credentials grant.
    async fn new_token(&self) -> String {
        self.token_request_json(client_credentials()).await.access_token()
    }

    async fn token_request_json(&self, body: Value) -> Reply {
        self.send(Method::POST, "/oauth/token", Body::Json(body), Auth::Missing)
            .await
    }

    async fn token_request_form(&self, form: &str) -> Reply {
        let body = Body::Raw {
            content_type: "application/x-www-form-urlencoded",
            text: form.to_owned(),
        };
        self.send(Method::POST, "/oauth/token", body, Auth::Missing).await
    }

    async fn get(&self, template: &str, path: &str) -> Reply {
        self.call(
            Contract::uitpas(),
            Method::GET,
            template,
            path,
            Body::None,
            Auth::Issued,
        )
        .await
    }

    async fn post_json(&self, template: &str, body: Value) -> Reply {
        self.call(
            Contract::uitpas(),
            Method::POST,
            template,
            template,
            Body::Json(body),
            Auth::Issued,
        )
        .await
    }

    /// A POST whose body is sent as is (to test missing and malformed bodies).
    async fn post_raw(&self, contract: &Contract, template: &str, text: &str) -> Reply {
        let body = Body::Raw {
            content_type: "application/json",
            text: text.to_owned(),
        };
        self.call(contract, Method::POST, template, template, body, Auth::Issued)
            .await
    }

    async fn delete(&self, template: &str, path: &str) -> Reply {
        self.call(
            Contract::uitpas(),
            Method::DELETE,
            template,
            path,
            Body::None,
            Auth::Issued,
        )
        .await
    }

    // --- the operations ---

    async fn pass(&self, number: &str) -> Reply {
        self.get("/passes/{uitpasNumber}", &format!("/passes/{number}")).await
    }

    async fn pass_by_identifier(&self, number: &str) -> Reply {
        self.get("/passes", &format!("/passes?identifier={number}")).await
    }

    async fn tariffs(&self, event: &str, number: &str, regular_price: f64) -> Reply {
        self.get(
            "/tariffs",
            &format!("/tariffs?eventId={event}&uitpasNumber={number}&regularPrice={regular_price}"),
        )
        .await
    }

    async fn tariffs_of_type(&self, event: &str, number: &str, regular_price: f64, kind: &str) -> Reply {
        self.get(
            "/tariffs",
            &format!("/tariffs?eventId={event}&uitpasNumber={number}&regularPrice={regular_price}&type={kind}"),
        )
        .await
    }

    async fn static_tariffs(&self, event: &str, regular_price: f64) -> Reply {
        self.get(
            "/tariffs/static",
            &format!("/tariffs/static?eventId={event}&regularPrice={regular_price}"),
        )
        .await
    }

    /// The id of the one social tariff a pass is offered on an event.
    async fn social_tariff_id(&self, event: &str, number: &str) -> String {
        let reply = self.tariffs_of_type(event, number, 10.0, "SOCIALTARIFF").await;
        let tariffs = available(reply.expect_ok());
        assert_eq!(tariffs.len(), 1, "one social tariff: {}", reply.body);
        tariffs[0]["id"].as_str().expect("a tariff id").to_owned()
    }

    /// The ids of the coupons a pass is offered on an event.
    async fn coupon_ids(&self, event: &str, number: &str) -> Vec<String> {
        let reply = self.tariffs_of_type(event, number, 10.0, "COUPON").await;
        available(reply.expect_ok())
            .iter()
            .map(|t| t["id"].as_str().expect("a tariff id").to_owned())
            .collect()
    }

    /// What remains of the tariff `tariff_id` for a pass on an event (0 when it is not offered).
    async fn remaining(&self, event: &str, number: &str, tariff_id: &str) -> u64 {
        let reply = self.tariffs(event, number, 10.0).await;
        available(reply.expect_ok())
            .iter()
            .find(|t| t["id"] == json!(tariff_id))
            .map_or(0, |t| t["remaining"].as_u64().expect("remaining"))
    }

    async fn sell(&self, lines: Value) -> Reply {
        self.post_json("/ticket-sales", lines).await
    }

    /// Registers lines that must all be accepted; returns the ids of the new sales.
    async fn sell_ok(&self, lines: Value) -> Vec<String> {
        let reply = self.sell(lines).await;
        reply
            .expect_ok()
            .as_array()
            .expect("an array of ticket sales")
            .iter()
            .map(|s| s["id"].as_str().expect("a ticket sale id").to_owned())
            .collect()
    }

    async fn sales_of_event(&self, query: &str) -> Reply {
        self.get("/ticket-sales", &format!("/ticket-sales?{query}")).await
    }

    async fn cancel(&self, id: &str) -> Reply {
        self.delete("/ticket-sales/{ticketSaleId}", &format!("/ticket-sales/{id}"))
            .await
    }

    async fn checkin(&self, number: &str, event: &str) -> Reply {
        self.post_json("/checkins", json!({ "uitpasNumber": number, "eventId": event }))
            .await
    }

    async fn card_systems(&self, event: &str) -> Reply {
        self.get(
            "/events/{eventId}/card-systems",
            &format!("/events/{event}/card-systems"),
        )
        .await
    }

    async fn create_event(&self, body: Value) -> Reply {
        self.call(
            Contract::entry(),
            Method::POST,
            "/events",
            "/events",
            Body::Json(body),
            Auth::Issued,
        )
        .await
    }

    /// Creates an event that must be accepted; returns its id.
    async fn create_event_ok(&self, body: Value) -> String {
        let reply = self.create_event(body).await;
        reply.expect_status(201)["id"].as_str().expect("an event id").to_owned()
    }

    // --- the sandbox's own endpoints (not part of any contract) ---

    async fn ledger(&self) -> Vec<Value> {
        let reply = self.control(Method::GET, "/_sandbox/ledger", Body::None).await;
        reply.expect_ok()["ticketSales"]
            .as_array()
            .unwrap_or_else(|| panic!("a ledger: {}", reply.body))
            .clone()
    }

    /// Requests held by a delay fault, not carried out yet.
    async fn delayed_in_flight(&self) -> u64 {
        let reply = self.control(Method::GET, "/_sandbox/stats", Body::None).await;
        reply.expect_ok()["delayedInFlight"]
            .as_u64()
            .unwrap_or_else(|| panic!("delayedInFlight in {}", reply.body))
    }

    async fn faults(&self) -> Vec<Value> {
        let reply = self.control(Method::GET, "/_sandbox/faults", Body::None).await;
        reply.expect_ok()["faults"]
            .as_array()
            .unwrap_or_else(|| panic!("a list of faults: {}", reply.body))
            .clone()
    }
}

/// The same sandbox, called with the token of another client.
struct AsClient<'a> {
    sb: &'a Sandbox,
    token: String,
}

impl AsClient<'_> {
    async fn get(&self, template: &str, path: &str) -> Reply {
        let auth = Auth::Bearer(&self.token);
        self.sb
            .call(Contract::uitpas(), Method::GET, template, path, Body::None, auth)
            .await
    }

    async fn post_json(&self, template: &str, body: Value) -> Reply {
        let auth = Auth::Bearer(&self.token);
        self.sb
            .call(
                Contract::uitpas(),
                Method::POST,
                template,
                template,
                Body::Json(body),
                auth,
            )
            .await
    }

    async fn delete(&self, template: &str, path: &str) -> Reply {
        let auth = Auth::Bearer(&self.token);
        self.sb
            .call(Contract::uitpas(), Method::DELETE, template, path, Body::None, auth)
            .await
    }

    async fn permissions(&self) -> Reply {
        self.get("/permissions", "/permissions").await
    }

    async fn tariffs(&self, event: &str, number: &str, regular_price: f64) -> Reply {
        self.get(
            "/tariffs",
            &format!("/tariffs?eventId={event}&uitpasNumber={number}&regularPrice={regular_price}"),
        )
        .await
    }

    async fn static_tariffs(&self, event: &str) -> Reply {
        self.get(
            "/tariffs/static",
            &format!("/tariffs/static?eventId={event}&regularPrice=10"),
        )
        .await
    }

    async fn sell(&self, lines: Value) -> Reply {
        self.post_json("/ticket-sales", lines).await
    }

    async fn sales_of_event(&self, event: &str) -> Reply {
        self.get("/ticket-sales", &format!("/ticket-sales?eventId={event}"))
            .await
    }

    async fn cancel(&self, id: &str) -> Reply {
        self.delete("/ticket-sales/{ticketSaleId}", &format!("/ticket-sales/{id}"))
            .await
    }

    async fn checkin(&self, number: &str, event: &str) -> Reply {
        self.post_json("/checkins", json!({ "uitpasNumber": number, "eventId": event }))
            .await
    }

    async fn pass(&self, number: &str) -> Reply {
        self.get("/passes/{uitpasNumber}", &format!("/passes/{number}")).await
    }

    async fn pass_by_identifier(&self, identifier: &str) -> Reply {
        self.get("/passes", &format!("/passes?identifier={identifier}")).await
    }
}

impl Sandbox {
    async fn as_client(&self, client_id: &str, secret: &str) -> AsClient<'_> {
        AsClient {
            sb: self,
            token: self.token_of(client_id, secret).await,
        }
    }

    async fn client_permissions(&self, client_id: &str) -> Value {
        let path = format!("/_sandbox/clients/{client_id}/permissions");
        self.control(Method::GET, &path, Body::None).await.expect_ok().clone()
    }

    async fn put_client_permissions(&self, client_id: &str, grants: Value) -> Reply {
        let path = format!("/_sandbox/clients/{client_id}/permissions");
        self.control(Method::PUT, &path, Body::Json(grants)).await
    }
}

// --- helpers ----------------------------------------------------------------------------------

fn client_credentials() -> Value {
    json!({
        "client_id": "shop",
        "client_secret": "secret",
        "audience": "https://api.publiq.be",
        "grant_type": "client_credentials",
    })
}

fn available(body: &Value) -> &Vec<Value> {
    body["available"]
        .as_array()
        .unwrap_or_else(|| panic!("a list of available tariffs: {body}"))
}

fn of_type<'a>(body: &'a Value, kind: &str) -> Vec<&'a Value> {
    available(body).iter().filter(|t| t["type"] == json!(kind)).collect()
}

/// A price in euros as a number of cents.
#[track_caller]
fn cents(price: &Value) -> i64 {
    (price.as_f64().unwrap_or_else(|| panic!("a price: {price}")) * 100.0).round() as i64
}

fn line(number: &str, event: &str, regular_price: f64, tariff_id: &str) -> Value {
    json!({
        "uitpasNumber": number,
        "eventId": event,
        "regularPrice": regular_price,
        "tariff": { "id": tariff_id },
    })
}

fn luhn_valid(digits: &str) -> bool {
    let sum: u32 = digits
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, c)| {
            let d = u32::from(c - b'0');
            match (i % 2, d * 2) {
                (1, doubled) if doubled > 9 => doubled - 9,
                (1, doubled) => doubled,
                _ => d,
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// The 13-digit number made of `first12` and the check digit that makes it Luhn-valid.
fn with_check_digit(first12: &str) -> String {
    (0..10)
        .map(|d| format!("{first12}{d}"))
        .find(|n| luhn_valid(n))
        .expect("one check digit fits")
}

/// A valid UiTPAS event of the test organizer, as the Entry API wants it.
fn uitpas_event(name: &str) -> Value {
    json!({
        "mainLanguage": "nl",
        "name": { "nl": name },
        "calendarType": "permanent",
        "location": { "@id": place_url() },
        "organizer": { "@id": TEST_ORGANIZER_URL },
        "terms": [{ "id": "0.50.4.0.0", "domain": "eventtype" }],
        "priceInfo": [{ "category": "base", "price": 12.5, "priceCurrency": "EUR" }],
    })
}

fn place_url() -> String {
    format!("https://io-test.uitdatabank.be/places/{}", uuid::Uuid::new_v4())
}

/// `uitpas_event`, happening once between `start` and `end` (from now).
fn single_event(start: chrono::Duration, end: chrono::Duration) -> Value {
    let now = Utc::now();
    let mut event = uitpas_event("Eenmalige UiTPAS-activiteit");
    event["calendarType"] = json!("single");
    event["subEvent"] = json!([{
        "startDate": (now + start).to_rfc3339(),
        "endDate": (now + end).to_rfc3339(),
    }]);
    event
}

fn date_time(value: &Value) -> DateTime<Utc> {
    value
        .as_str()
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .unwrap_or_else(|| panic!("a date-time: {value}"))
        .with_timezone(&Utc)
}

// === 1. token ==================================================================================

#[tokio::test]
async fn a_token_is_issued_for_a_json_body_and_opens_the_api() {
    let sb = Sandbox::start().await;
    let reply = sb.token_request_json(client_credentials()).await;
    let body = reply.expect_ok();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 86_400);
    let token = body["access_token"].as_str().expect("a token");
    assert_ne!(token, sb.token, "every request gets its own token");

    let pass = sb
        .call(
            Contract::uitpas(),
            Method::GET,
            "/passes/{uitpasNumber}",
            &format!("/passes/{ACTIVE_GENT}"),
            Body::None,
            Auth::Bearer(token),
        )
        .await;
    assert_eq!(pass.expect_ok()["uitpasNumber"], ACTIVE_GENT);
}

#[tokio::test]
async fn a_token_is_issued_for_a_form_body_and_opens_the_api() {
    let sb = Sandbox::start().await;
    let reply = sb
        .token_request_form(
            "grant_type=client_credentials&client_id=shop&client_secret=secret&audience=https%3A%2F%2Fapi.publiq.be",
        )
        .await;
    let body = reply.expect_ok();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 86_400);
    let token = body["access_token"].as_str().expect("a token");

    let pass = sb
        .call(
            Contract::uitpas(),
            Method::GET,
            "/passes",
            &format!("/passes?identifier={ACTIVE_GENT}"),
            Body::None,
            Auth::Bearer(token),
        )
        .await;
    assert_eq!(pass.expect_ok()["uitpasNumber"], ACTIVE_GENT);
}

#[tokio::test]
async fn an_empty_or_missing_client_credential_is_401() {
    let sb = Sandbox::start().await;
    let mut empty_secret = client_credentials();
    empty_secret["client_secret"] = json!("");
    let mut no_id = client_credentials();
    no_id.as_object_mut().expect("an object").remove("client_id");
    for body in [empty_secret, no_id] {
        let reply = sb.token_request_json(body.clone()).await;
        reply.expect_status(401);
        assert!(reply.body["access_token"].is_null(), "{}", reply.body);
        assert!(reply.body["error"].is_string(), "{}", reply.body);
    }
    let form = sb
        .token_request_form("grant_type=client_credentials&client_id=shop&client_secret=")
        .await;
    form.expect_status(401);
    assert!(form.body["access_token"].is_null(), "{}", form.body);
}

#[tokio::test]
async fn a_grant_type_other_than_client_credentials_is_400() {
    let sb = Sandbox::start().await;
    let mut password = client_credentials();
    password["grant_type"] = json!("password");
    let reply = sb.token_request_json(password).await;
    reply.expect_status(400);
    assert_eq!(reply.body["error"], "unsupported_grant_type");
    assert!(reply.body["access_token"].is_null());

    let mut missing = client_credentials();
    missing.as_object_mut().expect("an object").remove("grant_type");
    let reply = sb.token_request_json(missing).await;
    reply.expect_status(400);
    assert!(reply.body["access_token"].is_null());
}

/// An API operation of the sandbox, ready to be called.
struct Operation {
    method: Method,
    template: &'static str,
    path: String,
    body: Option<Value>,
    contract: &'static Contract,
}

fn operation(method: Method, template: &'static str, path: String, body: Option<Value>) -> Operation {
    let contract = if template == "/events" {
        Contract::entry()
    } else {
        Contract::uitpas()
    };
    Operation {
        method,
        template,
        path,
        body,
        contract,
    }
}

/// Every API operation the sandbox serves (all but the token endpoint).
fn every_operation() -> Vec<Operation> {
    vec![
        operation(
            Method::GET,
            "/passes/{uitpasNumber}",
            format!("/passes/{ACTIVE_GENT}"),
            None,
        ),
        operation(
            Method::GET,
            "/passes",
            format!("/passes?identifier={ACTIVE_GENT}"),
            None,
        ),
        operation(
            Method::GET,
            "/tariffs",
            format!("/tariffs?eventId={TEST_EVENT}&uitpasNumber={ACTIVE_GENT}&regularPrice=10"),
            None,
        ),
        operation(
            Method::GET,
            "/tariffs/static",
            format!("/tariffs/static?eventId={TEST_EVENT}&regularPrice=10"),
            None,
        ),
        // A well-formed sale: without a valid token it must not be registered (see the ledger).
        operation(
            Method::POST,
            "/ticket-sales",
            "/ticket-sales".to_owned(),
            Some(json!([line(ACTIVE_GENT, TEST_EVENT, 10.0, "kansentarief-regio-gent")])),
        ),
        operation(
            Method::GET,
            "/ticket-sales",
            format!("/ticket-sales?eventId={TEST_EVENT}"),
            None,
        ),
        operation(
            Method::DELETE,
            "/ticket-sales/{ticketSaleId}",
            format!("/ticket-sales/{}", uuid::Uuid::new_v4()),
            None,
        ),
        operation(
            Method::POST,
            "/checkins",
            "/checkins".to_owned(),
            Some(json!({ "uitpasNumber": ACTIVE_GENT, "eventId": TEST_EVENT })),
        ),
        operation(
            Method::GET,
            "/events/{eventId}/card-systems",
            format!("/events/{TEST_EVENT}/card-systems"),
            None,
        ),
        operation(Method::GET, "/permissions", "/permissions".to_owned(), None),
        operation(
            Method::GET,
            "/checkin-status",
            format!("/checkin-status?uitpasNumber={ACTIVE_GENT}&eventId={TEST_EVENT}"),
            None,
        ),
        operation(
            Method::GET,
            "/checkins",
            format!("/checkins?passholderId=x&organizerId={TEST_ORGANIZER}"),
            None,
        ),
        operation(
            Method::DELETE,
            "/checkins/{checkinId}",
            format!("/checkins/{}", uuid::Uuid::new_v4()),
            None,
        ),
        operation(
            Method::POST,
            "/events",
            "/events".to_owned(),
            Some(uitpas_event("Zonder token")),
        ),
    ]
}

async fn every_operation_is_unauthorized_with(sb: &Sandbox, auth: Auth<'_>) {
    let points_before = sb.pass(ACTIVE_GENT).await.expect_ok()["points"].clone();
    for op in every_operation() {
        let body = op.body.map_or(Body::None, Body::Json);
        let reply = sb.call(op.contract, op.method, op.template, &op.path, body, auth).await;
        reply.expect_problem(401, UNAUTHORIZED);
    }
    assert!(
        sb.ledger().await.is_empty(),
        "nothing is registered without a valid token"
    );
    assert_eq!(
        sb.pass(ACTIVE_GENT).await.expect_ok()["points"],
        points_before,
        "no check-in without a valid token"
    );
}

#[tokio::test]
async fn every_api_operation_without_a_token_is_401_unauthorized() {
    let sb = Sandbox::start().await;
    every_operation_is_unauthorized_with(&sb, Auth::Missing).await;
}

#[tokio::test]
async fn every_api_operation_with_an_unknown_token_is_401_unauthorized() {
    let sb = Sandbox::start().await;
    let forged = format!("{}x", sb.token);
    every_operation_is_unauthorized_with(&sb, Auth::Bearer(&forged)).await;
    every_operation_is_unauthorized_with(&sb, Auth::Bearer("not-a-token")).await;
}

#[tokio::test]
async fn a_token_stops_working_once_it_has_expired() {
    let sb = Sandbox::start_with_ttl(Duration::from_secs(1)).await;
    let reply = sb.token_request_json(client_credentials()).await;
    assert_eq!(reply.expect_ok()["expires_in"], 1);
    sb.pass(ACTIVE_GENT).await.expect_ok();

    // Time passing, not synchronisation: the token's lifetime is 1 s.
    tokio::time::sleep(Duration::from_millis(1200)).await;

    sb.pass(ACTIVE_GENT).await.expect_problem(401, UNAUTHORIZED);
    let fresh = sb.new_token().await;
    let reply = sb
        .call(
            Contract::uitpas(),
            Method::GET,
            "/passes/{uitpasNumber}",
            &format!("/passes/{ACTIVE_GENT}"),
            Body::None,
            Auth::Bearer(&fresh),
        )
        .await;
    reply.expect_ok();
}

#[tokio::test]
async fn the_bearer_scheme_is_case_insensitive() {
    let sb = Sandbox::start().await;
    for scheme in ["bearer", "BEARER"] {
        let header = format!("{scheme} {}", sb.token);
        let reply = sb
            .call(
                Contract::uitpas(),
                Method::GET,
                "/passes/{uitpasNumber}",
                &format!("/passes/{ACTIVE_GENT}"),
                Body::None,
                Auth::Header(&header),
            )
            .await;
        assert_eq!(reply.expect_ok()["uitpasNumber"], ACTIVE_GENT, "{scheme}");
    }
}

// === 2. passes ==================================================================================

/// (number, socialTariff.status, passType, postal code if the dataset documents it, messages)
const REGISTERED_PASSES: [(&str, &str, &str, Option<&str>, bool); 13] = [
    (NO_SOCIAL, "NONE", "INDIVIDUAL", Some("9000"), false),
    (NO_SOCIAL_TOO, "NONE", "INDIVIDUAL", Some("9000"), false),
    (ACTIVE_GENT, "ACTIVE", "INDIVIDUAL", Some("9090"), false),
    (GRACE_PERIOD, "ACTIVE", "INDIVIDUAL", Some("9090"), true),
    (EXPIRED_WITH_COUPON, "EXPIRED", "INDIVIDUAL", Some("9000"), true),
    (EXPIRED, "EXPIRED", "INDIVIDUAL", Some("1000"), true),
    (ACTIVE_PASPARTOE, "ACTIVE", "INDIVIDUAL", Some("9000"), false),
    (GROUP_ACTIVE, "ACTIVE", "GROUP", None, false),
    (GROUP_COUPON, "NONE", "GROUP", None, false),
    (FAMILY_PARENT, "NONE", "INDIVIDUAL", Some("9000"), false),
    (FAMILY_ACTIVE_PARENT, "ACTIVE", "INDIVIDUAL", Some("9000"), false),
    (FAMILY_ACTIVE_CHILD, "ACTIVE", "INDIVIDUAL", Some("9000"), false),
    (OLD_GRACE_PERIOD, "ACTIVE", "INDIVIDUAL", Some("9090"), true),
];

#[tokio::test]
async fn every_registered_pass_of_the_dataset_shows_its_social_tariff_and_pass_type() {
    let sb = Sandbox::start().await;
    for (number, social, pass_type, postal_code, has_messages) in REGISTERED_PASSES {
        let by_number = sb.pass(number).await;
        let by_identifier = sb.pass_by_identifier(number).await;
        let pass = by_number.expect_ok();
        assert_eq!(
            by_identifier.expect_ok(),
            pass,
            "{number}: both lookups show the same pass"
        );
        assert_eq!(pass["uitpasNumber"], number);
        assert_eq!(pass["socialTariff"]["status"], social, "{number}: {pass}");
        assert_eq!(pass["passType"], pass_type, "{number}: {pass}");
        if let Some(code) = postal_code {
            assert_eq!(pass["postalCode"], code, "{number}: {pass}");
        }
        let messages = pass["messages"].as_array().map_or(0, Vec::len);
        assert_eq!(
            messages > 0,
            has_messages,
            "{number}: messages that must be shown: {pass}"
        );
        for message in pass["messages"].as_array().into_iter().flatten() {
            assert!(
                message["text"].as_str().is_some_and(|t| !t.is_empty()),
                "{number}: {message}"
            );
        }
        match social {
            "NONE" => assert!(
                pass["socialTariff"]["endDate"].is_null(),
                "{number}: no endDate without a social tariff: {pass}"
            ),
            "EXPIRED" => assert!(
                date_time(&pass["socialTariff"]["endDate"]) < Utc::now(),
                "{number}: an expired social tariff ended in the past: {pass}"
            ),
            _ => {}
        }
    }
}

#[tokio::test]
async fn the_grace_period_pass_is_active_although_its_end_date_has_passed() {
    let sb = Sandbox::start().await;
    for number in [GRACE_PERIOD, OLD_GRACE_PERIOD] {
        let reply = sb.pass(number).await;
        let pass = reply.expect_ok();
        assert_eq!(pass["socialTariff"]["status"], "ACTIVE", "{number}");
        assert!(date_time(&pass["socialTariff"]["endDate"]) < Utc::now());
        assert!(!pass["messages"].as_array().expect("messages").is_empty());
        assert_eq!(pass["cardSystem"]["name"], "UiTPAS Regio Gent", "Gentbrugge is in Gent");
        // …and it really gets the social tariff.
        let tariffs = sb.tariffs(TEST_EVENT, number, 10.0).await;
        assert_eq!(of_type(tariffs.expect_ok(), "SOCIALTARIFF").len(), 1, "{number}");
    }
}

#[tokio::test]
async fn a_blocked_card_is_card_blocked_by_number_and_invalid_card_status_by_identifier() {
    let sb = Sandbox::start().await;
    sb.pass(BLOCKED).await.expect_domain_problem(400, "card-blocked");
    let reply = sb.pass_by_identifier(BLOCKED).await;
    let problem = reply.expect_domain_problem(400, "invalid-card-status");
    assert_eq!(problem["cardStatus"], "BLOCKED");
}

#[tokio::test]
async fn cards_not_registered_to_a_passholder_are_pass_not_found() {
    let sb = Sandbox::start().await;
    for number in [
        UNREGISTERED_ACTIVE,
        UNREGISTERED_NONE,
        OLD_UNREGISTERED_NONE,
        "044AC54A8E6180",
        "047E2EEA053B80",
    ] {
        sb.pass(number).await.expect_domain_problem(404, "pass-not-found");
        sb.pass_by_identifier(number)
            .await
            .expect_domain_problem(404, "pass-not-found");
    }
}

#[tokio::test]
async fn a_number_failing_the_luhn_check_or_unknown_is_pass_not_found() {
    let sb = Sandbox::start().await;
    let unknown = with_check_digit("090000001234");
    for number in [NOT_LUHN, "090000006751", unknown.as_str()] {
        sb.pass(number).await.expect_domain_problem(404, "pass-not-found");
        sb.pass_by_identifier(number)
            .await
            .expect_domain_problem(404, "pass-not-found");
    }
}

#[tokio::test]
async fn synthetic_0999_passes_are_active_for_an_even_twelfth_digit_and_none_for_an_odd_one() {
    let sb = Sandbox::start().await;
    for (first12, status) in [
        ("099900000002", "ACTIVE"),
        ("099912345678", "ACTIVE"),
        ("099900000001", "NONE"),
        ("099912345677", "NONE"),
    ] {
        let number = with_check_digit(first12);
        let reply = sb.pass(&number).await;
        assert_eq!(reply.expect_ok()["socialTariff"]["status"], status, "{number}");
        let reply = sb.pass_by_identifier(&number).await;
        assert_eq!(reply.expect_ok()["socialTariff"]["status"], status, "{number}");
        let tariffs = sb.tariffs(TEST_EVENT, &number, 10.0).await;
        let social = of_type(tariffs.expect_ok(), "SOCIALTARIFF").len();
        assert_eq!(social, usize::from(status == "ACTIVE"), "{number}");
    }
    // A 0999 number with a wrong check digit is no pass at all.
    let good = with_check_digit("099900000002");
    let bad = format!("{}{}", &good[..12], (good.as_bytes()[12] - b'0' + 1) % 10);
    sb.pass(&bad).await.expect_domain_problem(404, "pass-not-found");
}

#[tokio::test]
async fn get_passes_without_identifier_is_invalid_data_naming_the_parameter() {
    let sb = Sandbox::start().await;
    let reply = sb.get("/passes", "/passes").await;
    reply.expect_invalid_data_naming("/identifier");
}

// === 3. tariffs =================================================================================

#[tokio::test]
async fn an_active_gent_pass_gets_the_social_tariff_at_20_percent_rounded_to_cents() {
    let sb = Sandbox::start().await;
    for (regular, social) in [(12.99, 260), (10.0, 200), (10.01, 200), (0.03, 1)] {
        let reply = sb.tariffs(TEST_EVENT, ACTIVE_GENT, regular).await;
        let body = reply.expect_ok();
        let tariffs = available(body);
        assert_eq!(tariffs.len(), 1, "{body}");
        assert_eq!(tariffs[0]["type"], "SOCIALTARIFF");
        assert_eq!(cents(&tariffs[0]["price"]), social, "{regular}: {body}");
        assert_eq!(tariffs[0]["remaining"], 100, "100 a week: {body}");
        assert!(tariffs[0]["name"].as_str().is_some_and(|n| !n.is_empty()));
    }
}

#[tokio::test]
async fn a_paspartoe_pass_gets_25_percent_and_its_two_coupons() {
    let sb = Sandbox::start().await;
    let reply = sb.tariffs(TEST_EVENT, ACTIVE_PASPARTOE, 12.99).await;
    let body = reply.expect_ok();
    let social = of_type(body, "SOCIALTARIFF");
    assert_eq!(social.len(), 1, "{body}");
    assert_eq!(cents(&social[0]["price"]), 325, "25 % of 12.99: {body}");
    let coupons = of_type(body, "COUPON");
    assert_eq!(coupons.len(), 2, "{body}");
    for coupon in &coupons {
        assert_eq!(coupon["remaining"], 1, "single-use: {body}");
        assert!(cents(&coupon["price"]) <= 1299);
    }
    assert_eq!(available(body).len(), 3, "{body}");
    // The Paspartoe price is not the Gent price.
    let gent = sb.tariffs(TEST_EVENT, ACTIVE_GENT, 12.99).await;
    assert_eq!(cents(&available(gent.expect_ok())[0]["price"]), 260);
}

#[tokio::test]
async fn a_coupon_never_costs_more_than_the_regular_price() {
    let sb = Sandbox::start().await;
    let reply = sb.tariffs_of_type(TEST_EVENT, EXPIRED_WITH_COUPON, 0.5, "COUPON").await;
    let body = reply.expect_ok();
    let coupons = of_type(body, "COUPON");
    assert_eq!(coupons.len(), 1, "{body}");
    assert_eq!(cents(&coupons[0]["price"]), 50, "{body}");
    let reply = sb
        .tariffs_of_type(TEST_EVENT, EXPIRED_WITH_COUPON, 12.0, "COUPON")
        .await;
    assert_eq!(cents(&available(reply.expect_ok())[0]["price"]), 100, "€ 1");
}

#[tokio::test]
async fn the_type_filter_returns_only_tariffs_of_that_type() {
    let sb = Sandbox::start().await;
    for (kind, social, coupons) in [("ANY", 1, 2), ("SOCIALTARIFF", 1, 0), ("COUPON", 0, 2)] {
        let reply = sb.tariffs_of_type(TEST_EVENT, ACTIVE_PASPARTOE, 10.0, kind).await;
        let body = reply.expect_ok();
        assert_eq!(of_type(body, "SOCIALTARIFF").len(), social, "{kind}: {body}");
        assert_eq!(of_type(body, "COUPON").len(), coupons, "{kind}: {body}");
        assert_eq!(available(body).len(), social + coupons, "{kind}: {body}");
    }
    let reply = sb.tariffs_of_type(TEST_EVENT, ACTIVE_PASPARTOE, 10.0, "BOGUS").await;
    reply.expect_invalid_data_naming("/type");
}

#[tokio::test]
async fn an_expired_social_tariff_without_coupons_gets_social_tariff_expired() {
    let sb = Sandbox::start().await;
    sb.tariffs(TEST_EVENT, EXPIRED, 10.0)
        .await
        .expect_domain_problem(400, "social-tariff-expired");
}

#[tokio::test]
async fn an_expired_social_tariff_with_a_coupon_gets_the_coupon() {
    let sb = Sandbox::start().await;
    let reply = sb.tariffs(TEST_EVENT, EXPIRED_WITH_COUPON, 10.0).await;
    let body = reply.expect_ok();
    let tariffs = available(body);
    assert_eq!(tariffs.len(), 1, "{body}");
    assert_eq!(tariffs[0]["type"], "COUPON");
    assert_eq!(cents(&tariffs[0]["price"]), 100, "a € 1 coupon: {body}");
    assert_eq!(tariffs[0]["remaining"], 1);
    assert!(of_type(body, "SOCIALTARIFF").is_empty());
}

#[tokio::test]
async fn a_pass_without_social_tariff_gets_no_tariffs_and_an_end_user_message() {
    let sb = Sandbox::start().await;
    for number in [NO_SOCIAL, NO_SOCIAL_TOO] {
        let reply = sb.tariffs(TEST_EVENT, number, 10.0).await;
        let body = reply.expect_ok();
        assert!(available(body).is_empty(), "{number}: {body}");
        assert_end_user_message(&body["endUserMessage"]);
    }
}

#[tokio::test]
async fn group_passes_get_their_social_tariff_or_group_coupon() {
    let sb = Sandbox::start().await;
    let reply = sb.tariffs(TEST_EVENT, GROUP_ACTIVE, 10.0).await;
    let body = reply.expect_ok();
    assert_eq!(of_type(body, "SOCIALTARIFF").len(), 1, "{body}");
    assert!(body["available"][0]["remaining"].as_u64() > Some(1), "{body}");

    let reply = sb.tariffs(TEST_EVENT, GROUP_COUPON, 10.0).await;
    let body = reply.expect_ok();
    let coupons = of_type(body, "COUPON");
    assert_eq!(coupons.len(), 1, "{body}");
    assert_eq!(coupons[0]["remaining"], 50, "50 a day: {body}");
    assert!(of_type(body, "SOCIALTARIFF").is_empty(), "{body}");
}

#[tokio::test]
async fn a_malformed_number_on_tariffs_is_invalid_uitpasnumber() {
    let sb = Sandbox::start().await;
    for number in [NOT_LUHN, "090000006751", "09000000675x3"] {
        sb.tariffs(TEST_EVENT, number, 10.0)
            .await
            .expect_domain_problem(400, "invalid-uitpasnumber");
    }
}

#[tokio::test]
async fn unknown_and_unregistered_passes_on_tariffs_are_passholder_not_found() {
    let sb = Sandbox::start().await;
    let unknown = with_check_digit("090000001234");
    for number in [UNREGISTERED_ACTIVE, UNREGISTERED_NONE, unknown.as_str()] {
        sb.tariffs(TEST_EVENT, number, 10.0)
            .await
            .expect_domain_problem(400, "passholder-not-found");
    }
}

#[tokio::test]
async fn a_blocked_card_on_tariffs_is_invalid_card_status() {
    let sb = Sandbox::start().await;
    let reply = sb.tariffs(TEST_EVENT, BLOCKED, 10.0).await;
    let problem = reply.expect_domain_problem(400, "invalid-card-status");
    assert_eq!(problem["cardStatus"], "BLOCKED");
}

#[tokio::test]
async fn an_unknown_event_on_tariffs_is_event_not_found() {
    let sb = Sandbox::start().await;
    sb.tariffs(UNKNOWN_EVENT, ACTIVE_GENT, 10.0)
        .await
        .expect_domain_problem(400, "event-not-found");
}

#[tokio::test]
async fn tariffs_without_or_with_a_bad_regular_price_are_invalid_data_naming_it() {
    let sb = Sandbox::start().await;
    let base = format!("/tariffs?eventId={TEST_EVENT}&uitpasNumber={ACTIVE_GENT}");
    for query in ["", "&regularPrice=", "&regularPrice=abc", "&regularPrice=-1"] {
        let reply = sb.get("/tariffs", &format!("{base}{query}")).await;
        reply.expect_invalid_data_naming("/regularPrice");
    }
    let reply = sb
        .get(
            "/tariffs",
            &format!("/tariffs?uitpasNumber={ACTIVE_GENT}&regularPrice=10"),
        )
        .await;
    reply.expect_invalid_data_naming("/eventId");
    let reply = sb
        .get("/tariffs", &format!("/tariffs?eventId={TEST_EVENT}&regularPrice=10"))
        .await;
    reply.expect_invalid_data_naming("/uitpasNumber");
}

#[tokio::test]
async fn remaining_counts_down_after_a_sale_and_back_up_after_its_cancellation() {
    let sb = Sandbox::start().await;
    let social = sb.social_tariff_id(TEST_EVENT, ACTIVE_GENT).await;
    assert_eq!(sb.remaining(TEST_EVENT, ACTIVE_GENT, &social).await, 100);

    let ids = sb
        .sell_ok(json!([
            line(ACTIVE_GENT, TEST_EVENT, 10.0, &social),
            line(ACTIVE_GENT, TEST_EVENT, 10.0, &social),
        ]))
        .await;
    assert_eq!(ids.len(), 2);
    assert_eq!(sb.remaining(TEST_EVENT, ACTIVE_GENT, &social).await, 98);
    // Another passholder's allowance is untouched.
    let paspartoe = sb.social_tariff_id(TEST_EVENT, ACTIVE_PASPARTOE).await;
    assert_eq!(sb.remaining(TEST_EVENT, ACTIVE_PASPARTOE, &paspartoe).await, 100);

    sb.cancel(&ids[0]).await.expect_status(204);
    assert_eq!(sb.remaining(TEST_EVENT, ACTIVE_GENT, &social).await, 99);
}

#[tokio::test]
async fn the_limited_event_allows_one_social_tariff_sale_then_maximum_reached() {
    let sb = Sandbox::start().await;
    let social = sb.social_tariff_id(LIMITED_EVENT, ACTIVE_GENT).await;
    assert_eq!(sb.remaining(LIMITED_EVENT, ACTIVE_GENT, &social).await, 1);

    // Two at once: the second line is over the allowance, and nothing is registered.
    let reply = sb
        .sell(json!([
            line(ACTIVE_GENT, LIMITED_EVENT, 10.0, &social),
            line(ACTIVE_GENT, LIMITED_EVENT, 10.0, &social),
        ]))
        .await;
    let problem = reply.expect_domain_problem(400, "maximum-reached");
    assert_eq!(problem["jsonPointer"], "/1");
    assert!(sb.ledger().await.is_empty());

    let ids = sb
        .sell_ok(json!([line(ACTIVE_GENT, LIMITED_EVENT, 10.0, &social)]))
        .await;
    assert_eq!(ids.len(), 1);

    let reply = sb.tariffs(LIMITED_EVENT, ACTIVE_GENT, 10.0).await;
    let body = reply.expect_ok();
    let tariffs = of_type(body, "SOCIALTARIFF");
    assert!(
        tariffs.is_empty() || tariffs[0]["remaining"] == 0,
        "nothing remains: {body}"
    );
    assert_end_user_message(&body["endUserMessage"]);

    let reply = sb.sell(json!([line(ACTIVE_GENT, LIMITED_EVENT, 10.0, &social)])).await;
    let problem = reply.expect_domain_problem(400, "maximum-reached");
    assert_eq!(problem["jsonPointer"], "/0");
    assert_eq!(sb.ledger().await.len(), 1);
    // The test event keeps its own allowance.
    assert_eq!(sb.remaining(TEST_EVENT, ACTIVE_GENT, &social).await, 100);
}

#[tokio::test]
async fn static_tariffs_give_the_social_price_of_both_card_systems() {
    let sb = Sandbox::start().await;
    let reply = sb.static_tariffs(TEST_EVENT, 12.99).await;
    let body = reply.expect_ok();
    let tariffs = available(body);
    assert_eq!(tariffs.len(), 2, "{body}");
    assert!(tariffs.iter().all(|t| t["type"] == "SOCIALTARIFF"), "{body}");
    let prices: BTreeSet<i64> = tariffs.iter().map(|t| cents(&t["price"])).collect();
    assert_eq!(prices, BTreeSet::from([260, 325]), "20 % and 25 %: {body}");
}

#[tokio::test]
async fn static_tariffs_of_an_unknown_event_are_event_not_found() {
    let sb = Sandbox::start().await;
    sb.static_tariffs(UNKNOWN_EVENT, 10.0)
        .await
        .expect_domain_problem(400, "event-not-found");
    let reply = sb
        .get("/tariffs/static", &format!("/tariffs/static?eventId={TEST_EVENT}"))
        .await;
    reply.expect_invalid_data_naming("/regularPrice");
}

// === 4. ticket sales ============================================================================

#[tokio::test]
async fn a_batch_registers_every_line_and_answers_ids_and_full_tariffs() {
    let sb = Sandbox::start().await;
    let gent = sb.social_tariff_id(TEST_EVENT, ACTIVE_GENT).await;
    let paspartoe = sb.social_tariff_id(TEST_EVENT, ACTIVE_PASPARTOE).await;
    let coupon = sb.coupon_ids(TEST_EVENT, ACTIVE_PASPARTOE).await[0].clone();
    let mut labelled = line(ACTIVE_GENT, TEST_EVENT, 12.99, &gent);
    labelled["regularPriceLabel"] = json!("Volwassenen");
    let lines = json!([
        labelled,
        line(ACTIVE_GENT, TEST_EVENT, 12.99, &gent),
        line(ACTIVE_PASPARTOE, TEST_EVENT, 12.99, &paspartoe),
        line(ACTIVE_PASPARTOE, TEST_EVENT, 12.99, &coupon),
    ]);

    let reply = sb.sell(lines.clone()).await;
    let sales = reply.expect_ok().as_array().expect("an array").clone();
    assert_eq!(sales.len(), 4, "{}", reply.body);
    for (sale, asked) in sales.iter().zip(lines.as_array().expect("lines")) {
        assert!(sale["id"].as_str().is_some_and(|id| !id.is_empty()));
        assert_eq!(sale["uitpasNumber"], asked["uitpasNumber"]);
        assert_eq!(sale["eventId"], TEST_EVENT);
        assert_eq!(cents(&sale["regularPrice"]), 1299);
        assert_eq!(sale["tariff"]["id"], asked["tariff"]["id"]);
        assert!(sale["tariff"]["name"].as_str().is_some_and(|n| !n.is_empty()));
        assert!(sale["tariff"]["price"].is_number(), "{sale}");
    }
    assert_eq!(sales[0]["regularPriceLabel"], "Volwassenen");
    assert_eq!(sales[0]["tariff"]["type"], "SOCIALTARIFF");
    assert_eq!(cents(&sales[0]["tariff"]["price"]), 260);
    assert_eq!(cents(&sales[2]["tariff"]["price"]), 325);
    assert_eq!(sales[3]["tariff"]["type"], "COUPON");
    let ids: BTreeSet<&str> = sales.iter().filter_map(|s| s["id"].as_str()).collect();
    assert_eq!(ids.len(), 4, "every sale has its own id");

    let ledger = sb.ledger().await;
    let ledger_ids: BTreeSet<&str> = ledger.iter().filter_map(|s| s["id"].as_str()).collect();
    assert_eq!(ledger_ids, ids);
    assert!(ledger.iter().all(|s| s["status"] == "ACTIVE"));
    // The ledger keeps each sale's label (so a caller's marker), and none where none was given.
    for sale in &ledger {
        let expected = if sale["id"] == sales[0]["id"] {
            json!("Volwassenen")
        } else {
            Value::Null
        };
        assert_eq!(
            sale.get("regularPriceLabel").cloned().unwrap_or(Value::Null),
            expected,
            "{sale}"
        );
    }
}

#[tokio::test]
async fn a_batch_with_one_bad_line_registers_nothing_and_points_at_that_line() {
    let sb = Sandbox::start().await;
    let gent = sb.social_tariff_id(TEST_EVENT, ACTIVE_GENT).await;
    sb.sell_ok(json!([line(ACTIVE_GENT, TEST_EVENT, 10.0, &gent)])).await;
    let ledger_before = sb.ledger().await;
    assert_eq!(ledger_before.len(), 1);
    let good = line(ACTIVE_GENT, TEST_EVENT, 10.0, &gent);

    let cases = [
        (1, line(NOT_LUHN, TEST_EVENT, 10.0, &gent), "invalid-uitpasnumber"),
        (2, line(EXPIRED, TEST_EVENT, 10.0, &gent), "social-tariff-expired"),
        (0, line(ACTIVE_GENT, UNKNOWN_EVENT, 10.0, &gent), "event-not-found"),
        (1, line(BLOCKED, TEST_EVENT, 10.0, &gent), "invalid-card-status"),
        (
            1,
            line(UNREGISTERED_ACTIVE, TEST_EVENT, 10.0, &gent),
            "passholder-not-found",
        ),
    ];
    for (index, bad, slug) in cases {
        let mut lines = vec![good.clone(), good.clone(), good.clone()];
        lines[index] = bad;
        let reply = sb.sell(Value::Array(lines)).await;
        let problem = reply.expect_domain_problem(400, slug);
        assert_eq!(problem["jsonPointer"], format!("/{index}"), "{slug}");
        assert_eq!(sb.ledger().await, ledger_before, "{slug}: nothing registered");
    }

    // A tariff the pass is not offered is invalid data, still pointing at its line.
    let reply = sb
        .sell(json!([good, line(ACTIVE_GENT, TEST_EVENT, 10.0, "no-such-tariff")]))
        .await;
    let problem = reply.expect_problem(400, BODY_INVALID_DATA);
    assert_eq!(problem["jsonPointer"], "/1");
    assert_eq!(sb.ledger().await, ledger_before);
    assert_eq!(sb.remaining(TEST_EVENT, ACTIVE_GENT, &gent).await, 99);
}

#[tokio::test]
async fn a_missing_ticket_sale_body_is_body_missing() {
    let sb = Sandbox::start().await;
    for text in ["", "  \n"] {
        sb.post_raw(Contract::uitpas(), "/ticket-sales", text)
            .await
            .expect_problem(400, BODY_MISSING);
    }
}

#[tokio::test]
async fn a_ticket_sale_body_that_is_not_json_is_invalid_syntax() {
    let sb = Sandbox::start().await;
    for text in ["[{", "not json", "[{\"uitpasNumber\": 0900000067513}]"] {
        sb.post_raw(Contract::uitpas(), "/ticket-sales", text)
            .await
            .expect_problem(400, BODY_INVALID_SYNTAX);
    }
    assert!(sb.ledger().await.is_empty());
}

#[tokio::test]
async fn ticket_sales_of_the_wrong_shape_are_invalid_data_with_schema_errors() {
    let sb = Sandbox::start().await;
    let gent = sb.social_tariff_id(TEST_EVENT, ACTIVE_GENT).await;
    let good = line(ACTIVE_GENT, TEST_EVENT, 10.0, &gent);

    let mut no_price = good.clone();
    no_price.as_object_mut().expect("an object").remove("regularPrice");
    sb.sell(json!([good.clone(), no_price]))
        .await
        .expect_invalid_data_naming("regularPrice");

    let mut number_as_number = good.clone();
    number_as_number["uitpasNumber"] = json!(900_000_067_513_u64);
    sb.sell(json!([number_as_number]))
        .await
        .expect_invalid_data_naming("uitpasNumber");

    let mut no_tariff = good.clone();
    no_tariff.as_object_mut().expect("an object").remove("tariff");
    sb.sell(json!([no_tariff])).await.expect_invalid_data_naming("tariff");

    let mut negative = good.clone();
    negative["regularPrice"] = json!(-5);
    sb.sell(json!([negative]))
        .await
        .expect_invalid_data_naming("regularPrice");

    for not_a_batch in [json!([]), good.clone(), json!([42])] {
        let reply = sb.sell(not_a_batch).await;
        let problem = reply.expect_problem(400, BODY_INVALID_DATA);
        assert!(!problem["schemaErrors"].as_array().expect("schemaErrors").is_empty());
    }
    assert!(sb.ledger().await.is_empty());
}

#[tokio::test]
async fn a_batch_of_51_group_coupon_sales_is_maximum_reached_at_the_51st_line() {
    let sb = Sandbox::start().await;
    let coupon = sb.coupon_ids(TEST_EVENT, GROUP_COUPON).await;
    assert_eq!(coupon.len(), 1);
    let lines: Vec<Value> = (0..51)
        .map(|_| line(GROUP_COUPON, TEST_EVENT, 10.0, &coupon[0]))
        .collect();
    let reply = sb.sell(Value::Array(lines)).await;
    let problem = reply.expect_domain_problem(400, "maximum-reached");
    assert_eq!(problem["jsonPointer"], "/50");
    assert!(sb.ledger().await.is_empty());
    assert_eq!(sb.remaining(TEST_EVENT, GROUP_COUPON, &coupon[0]).await, 50);
}

#[tokio::test]
async fn a_batch_of_50_group_coupon_sales_uses_up_the_day() {
    let sb = Sandbox::start().await;
    let coupon = sb.coupon_ids(TEST_EVENT, GROUP_COUPON).await[0].clone();
    let lines: Vec<Value> = (0..50).map(|_| line(GROUP_COUPON, TEST_EVENT, 10.0, &coupon)).collect();
    let ids = sb.sell_ok(Value::Array(lines)).await;
    assert_eq!(ids.len(), 50);
    assert_eq!(sb.ledger().await.len(), 50);
    assert_eq!(sb.remaining(TEST_EVENT, GROUP_COUPON, &coupon).await, 0);

    let reply = sb.sell(json!([line(GROUP_COUPON, TEST_EVENT, 10.0, &coupon)])).await;
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert_eq!(reply.body["jsonPointer"], "/0");
    assert_eq!(sb.ledger().await.len(), 50, "the 51st is not registered");
}

#[tokio::test]
async fn the_group_coupon_allows_50_sales_a_day_then_maximum_reached() {
    let sb = Sandbox::start().await;
    let coupon = sb.coupon_ids(TEST_EVENT, GROUP_COUPON).await[0].clone();
    let lines: Vec<Value> = (0..50).map(|_| line(GROUP_COUPON, TEST_EVENT, 10.0, &coupon)).collect();
    assert_eq!(sb.sell_ok(Value::Array(lines)).await.len(), 50);

    let reply = sb.sell(json!([line(GROUP_COUPON, TEST_EVENT, 10.0, &coupon)])).await;
    let problem = reply.expect_domain_problem(400, "maximum-reached");
    assert_eq!(problem["jsonPointer"], "/0");
    assert_eq!(sb.ledger().await.len(), 50);
}

#[tokio::test]
async fn a_single_use_coupon_used_twice_is_refused_in_one_batch_and_across_batches() {
    let sb = Sandbox::start().await;
    let coupon = sb.coupon_ids(TEST_EVENT, ACTIVE_PASPARTOE).await[0].clone();
    let twice = json!([
        line(ACTIVE_PASPARTOE, TEST_EVENT, 10.0, &coupon),
        line(ACTIVE_PASPARTOE, TEST_EVENT, 10.0, &coupon),
    ]);
    let reply = sb.sell(twice).await;
    let problem = reply.expect_domain_problem(400, "invalid-coupon");
    assert_eq!(problem["jsonPointer"], "/1");
    assert!(sb.ledger().await.is_empty());

    let once = json!([line(ACTIVE_PASPARTOE, TEST_EVENT, 10.0, &coupon)]);
    assert_eq!(sb.sell_ok(once.clone()).await.len(), 1);
    assert!(
        !sb.coupon_ids(TEST_EVENT, ACTIVE_PASPARTOE).await.contains(&coupon),
        "a used coupon is no longer offered"
    );
    let reply = sb.sell(once).await;
    let problem = reply.expect_domain_problem(400, "invalid-coupon");
    assert_eq!(problem["jsonPointer"], "/0");
    assert_eq!(sb.ledger().await.len(), 1);
}

#[tokio::test]
async fn ticket_sales_of_an_event_are_paged_with_start_and_limit() {
    let sb = Sandbox::start().await;
    let gent = sb.social_tariff_id(TEST_EVENT, ACTIVE_GENT).await;
    let lines: Vec<Value> = (0..5).map(|_| line(ACTIVE_GENT, TEST_EVENT, 10.0, &gent)).collect();
    let registered: BTreeSet<String> = sb.sell_ok(Value::Array(lines)).await.into_iter().collect();
    // A sale of another event is not listed.
    sb.sell_ok(json!([line(ACTIVE_GENT, LIMITED_EVENT, 10.0, &gent)])).await;

    let mut seen = Vec::new();
    for (start, expected) in [(0, 2), (2, 2), (4, 1), (6, 0)] {
        let reply = sb
            .sales_of_event(&format!("eventId={TEST_EVENT}&start={start}&limit=2"))
            .await;
        let body = reply.expect_ok();
        assert_eq!(body["totalItems"], 5, "{body}");
        let members = body["member"].as_array().expect("member");
        assert_eq!(members.len(), expected, "start {start}: {body}");
        for sale in members {
            assert_eq!(sale["eventId"], TEST_EVENT);
            seen.push(sale["id"].as_str().expect("an id").to_owned());
        }
    }
    assert_eq!(seen.len(), 5, "no sale on two pages");
    assert_eq!(seen.into_iter().collect::<BTreeSet<_>>(), registered);

    let reply = sb.sales_of_event(&format!("eventId={TEST_EVENT}")).await;
    let body = reply.expect_ok();
    assert_eq!(body["member"].as_array().map(Vec::len), Some(5), "{body}");

    let reply = sb.sales_of_event(&format!("eventId={UNKNOWN_EVENT}")).await;
    let body = reply.expect_ok();
    assert_eq!(body["totalItems"], 0, "{body}");
}

#[tokio::test]
async fn a_limit_above_the_maximum_is_query_limit_exceeded() {
    let sb = Sandbox::start().await;
    let reply = sb.sales_of_event(&format!("eventId={TEST_EVENT}&limit=501")).await;
    reply.expect_problem(400, QUERY_LIMIT_EXCEEDED);
    let reply = sb.get("/ticket-sales", "/ticket-sales").await;
    reply.expect_invalid_data_naming("/eventId");
    let reply = sb.sales_of_event(&format!("eventId={TEST_EVENT}&limit=many")).await;
    reply.expect_invalid_data_naming("/limit");
}

#[tokio::test]
async fn a_limit_of_500_is_accepted_as_the_spec_allows() {
    let sb = Sandbox::start().await;
    for limit in [101, 500] {
        let reply = sb.sales_of_event(&format!("eventId={TEST_EVENT}&limit={limit}")).await;
        assert_eq!(reply.expect_ok()["totalItems"], 0, "limit {limit}");
    }
}

#[tokio::test]
async fn cancelling_a_sale_answers_204_and_again_ticket_sale_not_found() {
    let sb = Sandbox::start().await;
    let gent = sb.social_tariff_id(TEST_EVENT, ACTIVE_GENT).await;
    let ids = sb
        .sell_ok(json!([
            line(ACTIVE_GENT, TEST_EVENT, 10.0, &gent),
            line(ACTIVE_GENT, TEST_EVENT, 10.0, &gent),
        ]))
        .await;

    let reply = sb.cancel(&ids[0]).await;
    assert_eq!(reply.expect_status(204), &Value::Null, "204 has no body");
    let ledger = sb.ledger().await;
    let status_of = |id: &str| ledger.iter().find(|s| s["id"] == id).map(|s| s["status"].clone());
    assert_eq!(status_of(&ids[0]), Some(json!("CANCELLED")));
    assert_eq!(status_of(&ids[1]), Some(json!("ACTIVE")), "only that sale");

    sb.cancel(&ids[0])
        .await
        .expect_domain_problem(404, "ticket-sale-not-found");
    sb.cancel(&uuid::Uuid::new_v4().to_string())
        .await
        .expect_domain_problem(404, "ticket-sale-not-found");
    assert_eq!(sb.ledger().await, ledger, "a replay changes nothing");
}

#[tokio::test]
async fn the_test_event_allows_100_social_tariff_sales_a_week_then_maximum_reached() {
    let sb = Sandbox::start().await;
    let gent = sb.social_tariff_id(TEST_EVENT, ACTIVE_GENT).await;
    let batch = |n: usize| Value::Array((0..n).map(|_| line(ACTIVE_GENT, TEST_EVENT, 10.0, &gent)).collect());
    let reply = sb.sell(batch(101)).await;
    let problem = reply.expect_domain_problem(400, "maximum-reached");
    assert_eq!(problem["jsonPointer"], "/100");
    assert!(sb.ledger().await.is_empty());

    assert_eq!(sb.sell_ok(batch(100)).await.len(), 100);
    assert_eq!(sb.remaining(TEST_EVENT, ACTIVE_GENT, &gent).await, 0);
    let reply = sb.sell(batch(1)).await;
    let problem = reply.expect_domain_problem(400, "maximum-reached");
    assert_eq!(problem["jsonPointer"], "/0");
    assert_eq!(sb.ledger().await.len(), 100);
}

#[tokio::test]
async fn the_deprecated_tariff_id_field_still_registers_a_sale() {
    let sb = Sandbox::start().await;
    let gent = sb.social_tariff_id(TEST_EVENT, ACTIVE_GENT).await;
    let reply = sb
        .sell(json!([{
            "uitpasNumber": ACTIVE_GENT,
            "eventId": TEST_EVENT,
            "regularPrice": 10,
            "tariffId": gent,
        }]))
        .await;
    let sales = reply.expect_ok();
    assert_eq!(sales[0]["tariff"]["id"], json!(gent));
    assert_eq!(sales[0]["tariff"]["type"], "SOCIALTARIFF");
    assert_eq!(cents(&sales[0]["tariff"]["price"]), 200);
    assert_eq!(sb.ledger().await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_sales_never_exceed_an_allowance() {
    let sb = std::sync::Arc::new(Sandbox::start().await);
    let social = sb.social_tariff_id(LIMITED_EVENT, ACTIVE_GENT).await;
    let coupon = sb.coupon_ids(TEST_EVENT, ACTIVE_PASPARTOE).await[0].clone();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..20 {
        let sb = sb.clone();
        let line = if i % 2 == 0 {
            line(ACTIVE_GENT, LIMITED_EVENT, 10.0, &social)
        } else {
            line(ACTIVE_PASPARTOE, TEST_EVENT, 10.0, &coupon)
        };
        tasks.spawn(async move { sb.sell(json!([line])).await.status });
    }
    let statuses = tasks.join_all().await;
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 2, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 400).count(), 18, "{statuses:?}");
    let ledger = sb.ledger().await;
    assert_eq!(ledger.len(), 2, "one limited sale and one coupon: {ledger:?}");
}

#[tokio::test]
async fn a_number_written_with_spaces_counts_against_the_same_allowance() {
    let sb = Sandbox::start().await;
    let social = sb.social_tariff_id(LIMITED_EVENT, ACTIVE_GENT).await;
    let spaced = "0900 0000 6751 3";
    let reply = sb.sell(json!([line(spaced, LIMITED_EVENT, 10.0, &social)])).await;
    if reply.status == 200 {
        // Accepted: then it is the passholder's one sale on this event.
        assert_eq!(
            sb.remaining(LIMITED_EVENT, ACTIVE_GENT, &social).await,
            0,
            "the sale to {spaced:?} counts against {ACTIVE_GENT}'s allowance"
        );
        sb.sell(json!([line(ACTIVE_GENT, LIMITED_EVENT, 10.0, &social)]))
            .await
            .expect_domain_problem(400, "maximum-reached");
    } else {
        reply.expect_domain_problem(400, "invalid-uitpasnumber");
    }
    let reply = sb
        .sell(json!([
            line(ACTIVE_GENT, LIMITED_EVENT, 10.0, &social),
            line(spaced, LIMITED_EVENT, 10.0, &social),
        ]))
        .await;
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert!(sb.ledger().await.len() <= 1, "{:?}", sb.ledger().await);
}

// === 5. check-ins and card systems ==============================================================

#[tokio::test]
async fn a_checkin_answers_201_with_points_that_the_pass_then_shows() {
    let sb = Sandbox::start().await;
    let before = sb.pass(ACTIVE_GENT).await.expect_ok()["points"]
        .as_i64()
        .expect("points");
    let reply = sb.checkin(ACTIVE_GENT, TEST_EVENT).await;
    let body = reply.expect_status(201);
    assert_eq!(body["uitpasNumber"], ACTIVE_GENT);
    assert_eq!(body["eventId"], TEST_EVENT);
    let earned = body["points"].as_i64().expect("points earned");
    assert!(earned > 0, "{body}");
    let after = sb.pass(ACTIVE_GENT).await.expect_ok()["points"]
        .as_i64()
        .expect("points");
    assert_eq!(after, before + earned);
}

#[tokio::test]
async fn a_second_checkin_the_same_day_is_checkin_not_allowed_with_an_end_user_message() {
    let sb = Sandbox::start().await;
    sb.checkin(ACTIVE_GENT, TEST_EVENT).await.expect_status(201);
    let points = sb.pass(ACTIVE_GENT).await.expect_ok()["points"].clone();

    sb.checkin(ACTIVE_GENT, TEST_EVENT)
        .await
        .expect_domain_problem(400, "checkin-not-allowed");
    assert_eq!(
        sb.pass(ACTIVE_GENT).await.expect_ok()["points"],
        points,
        "no points for a refused check-in"
    );
    // One per passholder, event and day: another event or passholder is still welcome.
    sb.checkin(ACTIVE_GENT, LIMITED_EVENT).await.expect_status(201);
    sb.checkin(ACTIVE_PASPARTOE, TEST_EVENT).await.expect_status(201);
}

#[tokio::test]
async fn a_checkin_is_allowed_only_during_the_event_give_or_take_two_hours() {
    let sb = Sandbox::start().await;
    let h = chrono::Duration::hours;
    let soon = sb.create_event_ok(single_event(h(1), h(3))).await;
    let just_over = sb.create_event_ok(single_event(h(-5), h(-1))).await;
    let yesterday = sb.create_event_ok(single_event(h(-30), h(-26))).await;
    let later = sb.create_event_ok(single_event(h(3), h(5))).await;

    sb.checkin(ACTIVE_GENT, &soon).await.expect_status(201);
    sb.checkin(ACTIVE_GENT, &just_over).await.expect_status(201);
    for event in [&yesterday, &later] {
        sb.checkin(ACTIVE_GENT, event)
            .await
            .expect_domain_problem(400, "checkin-not-allowed");
    }
}

#[tokio::test]
async fn checkins_of_unusable_passes_or_events_are_refused() {
    let sb = Sandbox::start().await;
    sb.checkin(NOT_LUHN, TEST_EVENT)
        .await
        .expect_domain_problem(400, "invalid-uitpasnumber");
    sb.checkin(BLOCKED, TEST_EVENT)
        .await
        .expect_domain_problem(400, "invalid-card-status");
    sb.checkin(UNREGISTERED_ACTIVE, TEST_EVENT)
        .await
        .expect_domain_problem(400, "passholder-not-found");
    sb.checkin(ACTIVE_GENT, UNKNOWN_EVENT)
        .await
        .expect_domain_problem(400, "event-not-found");
    sb.post_raw(Contract::uitpas(), "/checkins", "")
        .await
        .expect_problem(400, BODY_MISSING);
    sb.post_raw(Contract::uitpas(), "/checkins", "{")
        .await
        .expect_problem(400, BODY_INVALID_SYNTAX);
    sb.post_json("/checkins", json!({ "uitpasNumber": ACTIVE_GENT }))
        .await
        .expect_invalid_data_naming("eventId");
}

#[tokio::test]
async fn the_test_event_takes_part_in_gent_and_paspartoe() {
    let sb = Sandbox::start().await;
    for event in [TEST_EVENT, LIMITED_EVENT] {
        let reply = sb.card_systems(event).await;
        let systems = reply.expect_ok().as_array().expect("an array").clone();
        assert_eq!(systems.len(), 2, "{}", reply.body);
        assert!(systems.iter().all(|s| s["enabled"] == true), "{}", reply.body);
        let names: BTreeSet<&str> = systems.iter().filter_map(|s| s["name"].as_str()).collect();
        assert_eq!(names, BTreeSet::from(["Paspartoe", "UiTPAS Regio Gent"]));
    }
}

#[tokio::test]
async fn the_card_systems_of_an_unknown_event_are_404_event_not_found() {
    let sb = Sandbox::start().await;
    sb.card_systems(UNKNOWN_EVENT)
        .await
        .expect_domain_problem(404, "event-not-found");
}

// === 6. Entry API ===============================================================================

#[tokio::test]
async fn a_valid_uitpas_event_is_created_and_then_has_tariffs_and_card_systems() {
    let sb = Sandbox::start().await;
    let reply = sb.create_event(uitpas_event("Zomerconcert")).await;
    let body = reply.expect_status(201);
    let id = body["id"].as_str().expect("an id");
    uuid::Uuid::parse_str(id).expect("the id is a UUID");
    assert!(body["url"].as_str().is_some_and(|u| u.ends_with(id)), "{body}");
    assert!(body["commandId"].as_str().is_some_and(|c| !c.is_empty()));

    let reply = sb.tariffs(id, ACTIVE_GENT, 12.5).await;
    let tariffs = reply.expect_ok();
    let social = of_type(tariffs, "SOCIALTARIFF");
    assert_eq!(social.len(), 1, "{tariffs}");
    assert_eq!(cents(&social[0]["price"]), 250, "20 % of 12.50");
    assert!(social[0]["remaining"].as_u64() > Some(0));

    let reply = sb.static_tariffs(id, 12.5).await;
    assert_eq!(available(reply.expect_ok()).len(), 2);

    let reply = sb.card_systems(id).await;
    let systems = reply.expect_ok().as_array().expect("an array").clone();
    assert_eq!(systems.len(), 2, "{}", reply.body);
    assert!(systems.iter().all(|s| s["enabled"] == true));

    // And a sale on it registers.
    let tariff = social[0]["id"].as_str().expect("an id");
    assert_eq!(sb.sell_ok(json!([line(ACTIVE_GENT, id, 12.5, tariff)])).await.len(), 1);

    // Two events get two ids.
    let second = sb.create_event_ok(uitpas_event("Zomerconcert")).await;
    assert_ne!(second, id);
}

#[tokio::test]
async fn an_event_missing_a_required_field_is_invalid_data_naming_it() {
    let sb = Sandbox::start().await;
    for field in ["mainLanguage", "name", "terms", "location", "calendarType"] {
        let mut event = uitpas_event("Onvolledig");
        event.as_object_mut().expect("an object").remove(field);
        sb.create_event(event).await.expect_invalid_data_naming(field);
    }
    let mut periodic = uitpas_event("Zonder data");
    periodic["calendarType"] = json!("periodic");
    sb.create_event(periodic).await.expect_problem(400, BODY_INVALID_DATA);
    let mut single = uitpas_event("Zonder subEvent");
    single["calendarType"] = json!("single");
    sb.create_event(single).await.expect_invalid_data_naming("subEvent");
    let mut bad_place = uitpas_event("Nergens");
    bad_place["location"]["@id"] = json!("https://io-test.uitdatabank.be/places/nowhere");
    sb.create_event(bad_place).await.expect_invalid_data_naming("location");
}

#[tokio::test]
async fn an_event_body_that_is_missing_or_not_json_is_refused() {
    let sb = Sandbox::start().await;
    sb.post_raw(Contract::entry(), "/events", "")
        .await
        .expect_problem(400, BODY_MISSING);
    sb.post_raw(Contract::entry(), "/events", "{\"name\":")
        .await
        .expect_problem(400, BODY_INVALID_SYNTAX);
}

#[tokio::test]
async fn a_uitpas_event_without_a_base_price_is_refused() {
    let sb = Sandbox::start().await;
    let mut no_price = uitpas_event("Gratis?");
    no_price.as_object_mut().expect("an object").remove("priceInfo");
    sb.create_event(no_price).await.expect_invalid_data_naming("priceInfo");

    let mut no_base = uitpas_event("Alleen tarieven");
    no_base["priceInfo"] = json!([{
        "category": "tariff",
        "price": 5,
        "priceCurrency": "EUR",
        "name": { "nl": "Kinderen" },
    }]);
    sb.create_event(no_base).await.expect_invalid_data_naming("priceInfo");
}

#[tokio::test]
async fn an_event_of_another_organizer_takes_no_part_in_uitpas() {
    let sb = Sandbox::start().await;
    let mut event = uitpas_event("Buiten UiTPAS");
    event["organizer"]["@id"] = json!(format!(
        "https://io-test.uitdatabank.be/organizers/{}",
        uuid::Uuid::new_v4()
    ));
    let id = sb.create_event_ok(event).await;

    let reply = sb.tariffs(&id, ACTIVE_GENT, 10.0).await;
    let body = reply.expect_ok();
    assert!(available(body).is_empty(), "{body}");
    assert_end_user_message(&body["endUserMessage"]);

    sb.static_tariffs(&id, 10.0)
        .await
        .expect_domain_problem(400, "social-tariff-not-available");

    let reply = sb.card_systems(&id).await;
    assert_eq!(reply.expect_ok(), &json!([]), "no card system");

    // Without an organizer a price is not required either, and it is no UiTPAS event.
    let mut bare = uitpas_event("Zonder organisator");
    let fields = bare.as_object_mut().expect("an object");
    fields.remove("organizer");
    fields.remove("priceInfo");
    let id = sb.create_event_ok(bare).await;
    let reply = sb.tariffs(&id, ACTIVE_GENT, 10.0).await;
    assert!(available(reply.expect_ok()).is_empty());
}

// === 7. sandbox control =========================================================================

#[tokio::test]
async fn stats_count_every_request_by_operation_id() {
    let sb = Sandbox::start().await;
    let stats = sb.stats().await;
    let operations = stats.as_object().expect("counts by operationId");
    for id in [
        "post-oauth-token",
        "get-passes-uitpasNumber",
        "get-passes",
        "get-tariffs",
        "get-tariffs-static",
        "post-ticket-sales",
        "get-ticket-sales",
        "delete-ticket-sales",
        "post-checkins",
        "get-checkins",
        "delete-checkins-checkinId",
        "get-checkin-status",
        "get-events-card-systems",
        "get-permissions",
        "event-post",
    ] {
        let expected = u64::from(id == "post-oauth-token");
        assert_eq!(operations.get(id).and_then(Value::as_u64), Some(expected), "{id}");
    }

    for _ in 0..3 {
        sb.tariffs(TEST_EVENT, ACTIVE_GENT, 10.0).await.expect_ok();
    }
    sb.static_tariffs(TEST_EVENT, 10.0).await.expect_ok();
    let stats = sb.stats().await;
    assert_eq!(stats["get-tariffs"], 3);
    assert_eq!(stats["get-tariffs-static"], 1);
    assert_eq!(stats["get-passes"], 0);

    // Every request counts, a refused one too.
    sb.call(
        Contract::uitpas(),
        Method::GET,
        "/tariffs",
        &format!("/tariffs?eventId={TEST_EVENT}&uitpasNumber={ACTIVE_GENT}&regularPrice=10"),
        Body::None,
        Auth::Missing,
    )
    .await
    .expect_problem(401, UNAUTHORIZED);
    assert_eq!(sb.stats().await["get-tariffs"], 4);
}

#[tokio::test]
async fn an_error_fault_answers_its_status_the_given_number_of_times_then_succeeds() {
    let sb = Sandbox::start().await;
    let reply = sb
        .put_fault(json!({ "operation": "get-tariffs", "mode": "error", "status": 503, "times": 2 }))
        .await;
    reply.expect_ok();
    assert_eq!(sb.faults().await.len(), 1);

    for attempt in 1..=2 {
        // An injected failure is not an answer of the contract (it declares no 503): checked by hand.
        let path = format!("/tariffs?eventId={TEST_EVENT}&uitpasNumber={ACTIVE_GENT}&regularPrice=10");
        let reply = sb.send(Method::GET, &path, Body::None, Auth::Issued).await;
        assert_eq!(reply.status, 503, "attempt {attempt}: {}", reply.body);
        assert_eq!(media_type(&reply.content_type), "application/problem+json");
        assert_eq!(reply.body["status"], 503);
        assert!(reply.body["type"].is_string() && reply.body["title"].is_string());
        // Other operations are not affected.
        sb.pass(ACTIVE_GENT).await.expect_ok();
    }
    sb.tariffs(TEST_EVENT, ACTIVE_GENT, 10.0).await.expect_ok();
    assert!(sb.faults().await.is_empty(), "used up");
}

#[tokio::test]
async fn a_delay_fault_makes_the_answer_take_at_least_its_delay() {
    let sb = Sandbox::start().await;
    sb.put_fault(json!({ "operation": "get-passes-uitpasNumber", "mode": "delay", "delayMs": 300 }))
        .await
        .expect_ok();
    let started = Instant::now();
    let reply = sb.pass(ACTIVE_GENT).await;
    let took = started.elapsed();
    assert_eq!(reply.expect_ok()["uitpasNumber"], ACTIVE_GENT);
    assert!(took >= Duration::from_millis(300), "took {took:?}");
    // Without `times` it stays until cleared.
    assert_eq!(sb.faults().await.len(), 1);
}

#[tokio::test]
async fn a_delayed_registration_is_held_then_carried_out_after_its_caller_gave_up() {
    let sb = Sandbox::start().await;
    let gent = sb.social_tariff_id(TEST_EVENT, ACTIVE_GENT).await;
    sb.put_fault(json!({ "operation": "post-ticket-sales", "mode": "delay", "delayMs": 3000, "times": 1 }))
        .await
        .expect_ok();
    assert_eq!(sb.delayed_in_flight().await, 0);

    // The caller gives up long before the delay ends.
    let gave_up = sb
        .http
        .post(format!("{}/ticket-sales", sb.base))
        .bearer_auth(&sb.token)
        .json(&json!([line(ACTIVE_GENT, TEST_EVENT, 10.0, &gent)]))
        .timeout(Duration::from_millis(200))
        .send()
        .await;
    assert!(gave_up.is_err(), "no answer within 200 ms expected, got {gave_up:?}");
    assert_eq!(sb.delayed_in_flight().await, 1, "held");
    assert!(sb.ledger().await.is_empty(), "not carried out yet");

    // The sandbox's own count says when it is done: then it has committed.
    let deadline = Instant::now() + Duration::from_secs(30);
    while sb.delayed_in_flight().await > 0 {
        assert!(Instant::now() < deadline, "still held after 30 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let ledger = sb.ledger().await;
    assert_eq!(ledger.len(), 1, "{ledger:?}");
    assert_eq!(ledger[0]["status"], "ACTIVE");
}

#[tokio::test]
async fn drop_after_commit_loses_the_answer_but_the_sale_is_registered() {
    let sb = Sandbox::start().await;
    let gent = sb.social_tariff_id(TEST_EVENT, ACTIVE_GENT).await;
    sb.put_fault(json!({ "operation": "post-ticket-sales", "mode": "drop-after-commit", "times": 1 }))
        .await
        .expect_ok();

    let lost = sb
        .try_send(
            Method::POST,
            "/ticket-sales",
            Body::Json(json!([line(ACTIVE_GENT, TEST_EVENT, 10.0, &gent)])),
            Auth::Issued,
        )
        .await;
    assert!(lost.is_err(), "no answer expected, got {lost:?}");

    let ledger = sb.ledger().await;
    assert_eq!(ledger.len(), 1, "{ledger:?}");
    assert_eq!(ledger[0]["status"], "ACTIVE");
    assert_eq!(ledger[0]["uitpasNumber"], ACTIVE_GENT);
    assert_eq!(ledger[0]["eventId"], TEST_EVENT);
    assert_eq!(sb.remaining(TEST_EVENT, ACTIVE_GENT, &gent).await, 99);
    let reply = sb.sales_of_event(&format!("eventId={TEST_EVENT}")).await;
    assert_eq!(reply.expect_ok()["totalItems"], 1);
}

#[tokio::test]
async fn a_fault_with_probability_0_never_fires() {
    let sb = Sandbox::start().await;
    sb.put_fault(json!({ "operation": "get-tariffs", "mode": "error", "status": 500, "probability": 0 }))
        .await
        .expect_ok();
    for _ in 0..25 {
        sb.tariffs(TEST_EVENT, ACTIVE_GENT, 10.0).await.expect_ok();
    }
    assert_eq!(sb.faults().await.len(), 1, "still in force");
}

#[tokio::test]
async fn a_fault_for_an_unknown_operation_or_mode_is_refused() {
    let sb = Sandbox::start().await;
    let reply = sb
        .put_fault(json!({ "operation": "get-nothing", "mode": "error" }))
        .await;
    reply.expect_invalid_data_naming("/operation");
    let reply = sb
        .put_fault(json!({ "operation": "get-tariffs", "mode": "explode" }))
        .await;
    reply.expect_status(400);
    let reply = sb
        .put_fault(json!({ "operation": "get-tariffs", "mode": "error", "probability": 2 }))
        .await;
    reply.expect_status(400);
    assert!(sb.faults().await.is_empty());
    sb.tariffs(TEST_EVENT, ACTIVE_GENT, 10.0).await.expect_ok();
}

#[tokio::test]
async fn deleting_the_faults_clears_them() {
    let sb = Sandbox::start().await;
    sb.put_fault(json!({ "operation": "get-tariffs", "mode": "error", "status": 502 }))
        .await
        .expect_ok();
    sb.put_fault(json!({ "operation": "get-passes", "mode": "delay", "delayMs": 5000 }))
        .await
        .expect_ok();
    assert_eq!(sb.faults().await.len(), 2);
    let path = format!("/tariffs?eventId={TEST_EVENT}&uitpasNumber={ACTIVE_GENT}&regularPrice=10");
    let reply = sb.send(Method::GET, &path, Body::None, Auth::Issued).await;
    assert_eq!(reply.status, 502, "{}", reply.body);

    let reply = sb.control(Method::DELETE, "/_sandbox/faults", Body::None).await;
    reply.expect_status(204);
    assert!(sb.faults().await.is_empty());
    sb.tariffs(TEST_EVENT, ACTIVE_GENT, 10.0).await.expect_ok();
    let started = Instant::now();
    sb.pass_by_identifier(ACTIVE_GENT).await.expect_ok();
    assert!(started.elapsed() < Duration::from_secs(5), "no delay left");
}

#[tokio::test]
async fn a_stopped_sandbox_refuses_connections() {
    let sb = Sandbox::start().await;
    let url = format!("{}/passes/{ACTIVE_GENT}", sb.base);
    sb.pass(ACTIVE_GENT).await.expect_ok();
    sb.stop().await;
    // A new client: no pooled connection that could outlive the listener.
    let refused = reqwest::Client::new().get(url).send().await;
    assert!(refused.is_err(), "{refused:?}");
}

#[tokio::test]
async fn a_fault_can_hit_the_token_endpoint() {
    let sb = Sandbox::start().await;
    sb.put_fault(json!({ "operation": "post-oauth-token", "mode": "error", "status": 500, "times": 1 }))
        .await
        .expect_ok();
    let reply = sb.token_request_json(client_credentials()).await;
    assert_eq!(reply.status, 500, "{}", reply.body);
    assert!(reply.body["access_token"].is_null());
    sb.new_token().await;
    assert_eq!(sb.stats().await["post-oauth-token"], 3);
}

// === 8. clients and their permissions ==========================================================

/// The organizers and permissions `GET /permissions` lists: (organizer id, sorted permissions).
fn organizer_permissions(body: &Value) -> Vec<(String, Vec<String>)> {
    let strings = |v: &Value| -> Vec<String> {
        let mut names: Vec<String> = v
            .as_array()
            .unwrap_or_else(|| panic!("an array: {v}"))
            .iter()
            .map(|p| p.as_str().expect("a permission name").to_owned())
            .collect();
        names.sort();
        names
    };
    body.as_array()
        .unwrap_or_else(|| panic!("a list of organizers: {body}"))
        .iter()
        .map(|o| {
            let permissions = strings(&o["permissions"]);
            let details: Vec<Value> = o["permissionDetails"]
                .as_array()
                .expect("permissionDetails")
                .iter()
                .map(|d| d["id"].clone())
                .collect();
            assert_eq!(strings(&Value::Array(details)), permissions, "both lists agree: {o}");
            (
                o["organizer"]["id"].as_str().expect("an organizer id").to_owned(),
                permissions,
            )
        })
        .collect()
}

fn names(permissions: &[&str]) -> Vec<String> {
    let mut names: Vec<String> = permissions.iter().map(|p| (*p).to_owned()).collect();
    names.sort();
    names
}

#[tokio::test]
async fn each_known_client_gets_a_token_with_its_own_secret_and_any_other_client_still_does() {
    let sb = Sandbox::start().await;
    for (id, secret) in [CHECKOUT_CLIENT, CUSTOMER_B, NO_REGISTER, ("shop", "whatever")] {
        let client = sb.as_client(id, secret).await;
        client.permissions().await.expect_ok();
    }
}

#[tokio::test]
async fn a_known_client_with_a_wrong_secret_is_401_invalid_client() {
    let sb = Sandbox::start().await;
    for (id, _) in [CHECKOUT_CLIENT, CUSTOMER_B, NO_REGISTER] {
        let form = sb
            .token_request_form(&format!(
                "grant_type=client_credentials&client_id={id}&client_secret=secret"
            ))
            .await;
        form.expect_status(401);
        assert_eq!(form.body["error"], "invalid_client", "{id}: {}", form.body);
        assert!(form.body["access_token"].is_null());

        let mut json_body = client_credentials();
        json_body["client_id"] = json!(id);
        let reply = sb.token_request_json(json_body).await;
        reply.expect_status(401);
        assert_eq!(reply.body["error"], "invalid_client", "{id}: {}", reply.body);
    }
    // Another client's secret is a wrong secret too.
    let reply = sb
        .token_request_form("grant_type=client_credentials&client_id=sandbox-customer-b&client_secret=sandbox")
        .await;
    assert_eq!(reply.body["error"], "invalid_client", "{}", reply.body);
}

#[tokio::test]
async fn get_permissions_lists_the_organizer_and_permissions_of_each_client() {
    let sb = Sandbox::start().await;
    let cases = [
        (CHECKOUT_CLIENT, TEST_ORGANIZER, names(&CHECKOUT_PERMISSIONS)),
        (CUSTOMER_B, OTHER_ORGANIZER, names(&CHECKOUT_PERMISSIONS)),
        (
            NO_REGISTER,
            TEST_ORGANIZER,
            names(&["TARIFFS_READ", "TICKETSALES_SEARCH"]),
        ),
        (("shop", "secret"), TEST_ORGANIZER, names(&CHECKOUT_PERMISSIONS)),
    ];
    for ((id, secret), organizer, permissions) in cases {
        let client = sb.as_client(id, secret).await;
        let reply = client.permissions().await;
        let body = reply.expect_ok();
        assert_eq!(
            organizer_permissions(body),
            vec![(organizer.to_owned(), permissions)],
            "{id}: {body}"
        );
        let first = &body[0];
        assert!(
            first["organizer"]["name"].as_str().is_some_and(|n| !n.is_empty()),
            "{body}"
        );
        for detail in first["permissionDetails"].as_array().expect("details") {
            assert!(
                detail["label"]["nl"].as_str().is_some_and(|l| !l.is_empty()),
                "{detail}"
            );
            assert!(
                !detail["cardSystemIds"].as_array().expect("card systems").is_empty(),
                "{detail}"
            );
        }
    }
}

#[tokio::test]
async fn the_no_permission_event_is_403_for_the_default_client_and_open_to_customer_b() {
    let sb = Sandbox::start().await;
    let default = sb.as_client(CHECKOUT_CLIENT.0, CHECKOUT_CLIENT.1).await;
    let b = sb.as_client(CUSTOMER_B.0, CUSTOMER_B.1).await;
    let sale = json!([line(ACTIVE_GENT, NO_PERMISSION_EVENT, 10.0, "kansentarief-regio-gent")]);

    for client in [&default, &sb.as_client("shop", "secret").await] {
        client
            .tariffs(NO_PERMISSION_EVENT, ACTIVE_GENT, 10.0)
            .await
            .expect_problem(403, FORBIDDEN);
        client
            .static_tariffs(NO_PERMISSION_EVENT)
            .await
            .expect_problem(403, FORBIDDEN);
        client.sell(sale.clone()).await.expect_problem(403, FORBIDDEN);
        client
            .sales_of_event(NO_PERMISSION_EVENT)
            .await
            .expect_problem(403, FORBIDDEN);
        client
            .checkin(ACTIVE_GENT, NO_PERMISSION_EVENT)
            .await
            .expect_problem(403, FORBIDDEN);
    }
    assert!(sb.ledger().await.is_empty());
    // Anyone may see whether it takes part in UiTPAS.
    default
        .get(
            "/events/{eventId}/card-systems",
            &format!("/events/{NO_PERMISSION_EVENT}/card-systems"),
        )
        .await
        .expect_ok();

    let tariffs = b.tariffs(NO_PERMISSION_EVENT, ACTIVE_GENT, 10.0).await;
    assert_eq!(of_type(tariffs.expect_ok(), "SOCIALTARIFF").len(), 1);
    b.static_tariffs(NO_PERMISSION_EVENT).await.expect_ok();
    let sold = b.sell(sale).await;
    let id = sold.expect_ok()[0]["id"].as_str().expect("an id").to_owned();
    assert_eq!(b.sales_of_event(NO_PERMISSION_EVENT).await.expect_ok()["totalItems"], 1);
    b.checkin(ACTIVE_GENT, NO_PERMISSION_EVENT).await.expect_status(201);
    // …and the default client may not cancel customer b's sale.
    default.cancel(&id).await.expect_problem(403, FORBIDDEN);
    assert_eq!(sb.ledger().await[0]["status"], "ACTIVE");
    b.cancel(&id).await.expect_status(204);

    // Customer b, for its part, may not sell on the test organizer's event.
    b.tariffs(TEST_EVENT, ACTIVE_GENT, 10.0)
        .await
        .expect_problem(403, FORBIDDEN);
}

#[tokio::test]
async fn a_forbidden_line_refuses_the_whole_batch_and_registers_nothing() {
    let sb = Sandbox::start().await;
    let gent = sb.social_tariff_id(TEST_EVENT, ACTIVE_GENT).await;
    let reply = sb
        .sell(json!([
            line(ACTIVE_GENT, TEST_EVENT, 10.0, &gent),
            line(ACTIVE_GENT, NO_PERMISSION_EVENT, 10.0, &gent),
        ]))
        .await;
    let problem = reply.expect_problem(403, FORBIDDEN);
    assert_eq!(problem["jsonPointer"], "/1", "{problem}");
    assert!(sb.ledger().await.is_empty());
    assert_eq!(sb.remaining(TEST_EVENT, ACTIVE_GENT, &gent).await, 100);
}

#[tokio::test]
async fn forbidden_comes_after_unauthorized_and_before_validation() {
    let sb = Sandbox::start().await;
    let path = format!("/tariffs?eventId={NO_PERMISSION_EVENT}&uitpasNumber={NOT_LUHN}&regularPrice=10");
    let reply = sb
        .call(
            Contract::uitpas(),
            Method::GET,
            "/tariffs",
            &path,
            Body::None,
            Auth::Missing,
        )
        .await;
    reply.expect_problem(401, UNAUTHORIZED);
    sb.get("/tariffs", &path).await.expect_problem(403, FORBIDDEN);
    // A malformed line for a forbidden event: the permission decides first.
    sb.sell(json!([{ "eventId": NO_PERMISSION_EVENT, "uitpasNumber": 42 }]))
        .await
        .expect_problem(403, FORBIDDEN);
}

#[tokio::test]
async fn revoking_ticketsales_register_makes_the_next_registration_403_with_nothing_registered() {
    let sb = Sandbox::start().await;
    let client = sb.as_client(CHECKOUT_CLIENT.0, CHECKOUT_CLIENT.1).await;
    let gent = sb.social_tariff_id(TEST_EVENT, ACTIVE_GENT).await;
    let sale = json!([line(ACTIVE_GENT, TEST_EVENT, 10.0, &gent)]);
    client.sell(sale.clone()).await.expect_ok();

    let without_register: Vec<&str> = CHECKOUT_PERMISSIONS
        .into_iter()
        .filter(|p| *p != "TICKETSALES_REGISTER")
        .collect();
    let grants = json!([{ "organizerId": TEST_ORGANIZER, "permissions": without_register }]);
    let reply = sb.put_client_permissions(CHECKOUT_CLIENT.0, grants.clone()).await;
    reply.expect_ok();
    assert_eq!(sb.client_permissions(CHECKOUT_CLIENT.0).await, reply.body);

    // The token issued before the change carries the change.
    client.sell(sale.clone()).await.expect_problem(403, FORBIDDEN);
    assert_eq!(sb.ledger().await.len(), 1, "nothing more is registered");
    client.tariffs(TEST_EVENT, ACTIVE_GENT, 10.0).await.expect_ok();
    assert_eq!(
        organizer_permissions(client.permissions().await.expect_ok()),
        vec![(TEST_ORGANIZER.to_owned(), names(&without_register))]
    );
    // Other clients are not affected.
    sb.sell(sale.clone()).await.expect_ok();

    // Deleting the replacement gives the client back what it had.
    let path = format!("/_sandbox/clients/{}/permissions", CHECKOUT_CLIENT.0);
    sb.control(Method::DELETE, &path, Body::None).await.expect_status(204);
    client.sell(sale).await.expect_ok();
    assert_eq!(sb.ledger().await.len(), 3);
}

#[tokio::test]
async fn the_no_register_client_reads_tariffs_and_sales_but_may_not_register() {
    let sb = Sandbox::start().await;
    let client = sb.as_client(NO_REGISTER.0, NO_REGISTER.1).await;
    let tariffs = client.tariffs(TEST_EVENT, ACTIVE_GENT, 10.0).await;
    let gent = of_type(tariffs.expect_ok(), "SOCIALTARIFF")[0]["id"]
        .as_str()
        .expect("a tariff id")
        .to_owned();
    client.static_tariffs(TEST_EVENT).await.expect_ok();
    client.sales_of_event(TEST_EVENT).await.expect_ok();

    client
        .sell(json!([line(ACTIVE_GENT, TEST_EVENT, 10.0, &gent)]))
        .await
        .expect_problem(403, FORBIDDEN);
    assert!(sb.ledger().await.is_empty());
    client
        .checkin(ACTIVE_GENT, TEST_EVENT)
        .await
        .expect_problem(403, FORBIDDEN);
    // No PASSES_READ for any organizer: no pass lookups.
    client.pass(ACTIVE_GENT).await.expect_problem(403, FORBIDDEN);
    client
        .pass_by_identifier(ACTIVE_GENT)
        .await
        .expect_problem(403, FORBIDDEN);
}

#[tokio::test]
async fn passes_need_passes_read_for_any_organizer() {
    let sb = Sandbox::start().await;
    let b = sb.as_client(CUSTOMER_B.0, CUSTOMER_B.1).await;
    b.pass(ACTIVE_GENT).await.expect_ok();
    let only_other = json!([{ "organizerId": OTHER_ORGANIZER, "permissions": ["PASSES_READ"] }]);
    sb.put_client_permissions(CHECKOUT_CLIENT.0, only_other)
        .await
        .expect_ok();
    let client = sb.as_client(CHECKOUT_CLIENT.0, CHECKOUT_CLIENT.1).await;
    client.pass_by_identifier(ACTIVE_GENT).await.expect_ok();
    client
        .tariffs(TEST_EVENT, ACTIVE_GENT, 10.0)
        .await
        .expect_problem(403, FORBIDDEN);
}

#[tokio::test]
async fn the_permissions_control_endpoint_refuses_unknown_names_and_changes_nothing() {
    let sb = Sandbox::start().await;
    let before = sb.client_permissions(CHECKOUT_CLIENT.0).await;
    assert_eq!(
        before,
        json!([{ "organizerId": TEST_ORGANIZER, "permissions": CHECKOUT_PERMISSIONS }])
    );
    for bad in [
        json!([{ "organizerId": TEST_ORGANIZER, "permissions": ["TARIFFS_READ", "TICKETSALES_DELETE"] }]),
        json!([{ "organizerId": "not-a-uuid", "permissions": ["TARIFFS_READ"] }]),
        json!([{ "organizerId": TEST_ORGANIZER }]),
        json!({ "organizerId": TEST_ORGANIZER, "permissions": [] }),
    ] {
        let reply = sb.put_client_permissions(CHECKOUT_CLIENT.0, bad.clone()).await;
        reply.expect_problem(400, BODY_INVALID_DATA);
    }
    let reply = sb
        .put_client_permissions(CHECKOUT_CLIENT.0, json!(["TARIFFS_READ"]))
        .await;
    reply.expect_invalid_data_naming("/0/organizerId");
    let reply = sb
        .put_client_permissions(
            CHECKOUT_CLIENT.0,
            json!([{ "organizerId": TEST_ORGANIZER, "permissions": ["TICKETSALES_DELETE"] }]),
        )
        .await;
    reply.expect_invalid_data_naming("/0/permissions/0");
    assert_eq!(sb.client_permissions(CHECKOUT_CLIENT.0).await, before);
}

// === 9. publiq's dataset of 2026-02: identifiers ==============================================

#[tokio::test]
async fn every_number_of_publiqs_dataset_passes_the_luhn_check() {
    for (number, ..) in IDENTIFIERS {
        assert!(luhn_valid(number), "{number}");
    }
    assert!(luhn_valid(OLD_GRACE_PERIOD) && luhn_valid(OLD_UNREGISTERED_NONE));
}

#[tokio::test]
async fn every_registered_pass_is_found_by_its_number_chip_number_and_insz_number() {
    let sb = Sandbox::start().await;
    for (number, chip, insz) in IDENTIFIERS {
        if [UNREGISTERED_ACTIVE, UNREGISTERED_NONE, BLOCKED].contains(&number) {
            continue;
        }
        let by_number = sb.pass_by_identifier(number).await;
        let pass = by_number.expect_ok();
        for identifier in [chip, insz].into_iter().flatten() {
            let reply = sb.pass_by_identifier(identifier).await;
            assert_eq!(reply.expect_ok(), pass, "{identifier} finds {number}");
        }
    }
    // A chip number in lower case, an INSZ number written with its dots and dash.
    let reply = sb.pass_by_identifier("04363cdaee3880").await;
    assert_eq!(reply.expect_ok()["uitpasNumber"], ACTIVE_GENT);
    let reply = sb.pass_by_identifier("36.05.13-802.84").await;
    assert_eq!(reply.expect_ok()["uitpasNumber"], ACTIVE_GENT);
    // The blocked card is blocked whichever identifier finds it.
    for identifier in ["04B00412F15284", "71030360442"] {
        let reply = sb.pass_by_identifier(identifier).await;
        assert_eq!(
            reply.expect_domain_problem(400, "invalid-card-status")["cardStatus"],
            "BLOCKED"
        );
    }
    // Unknown ones are not found.
    for identifier in ["04363CDAEE3881", "36051380285", "0900000067514"] {
        sb.pass_by_identifier(identifier)
            .await
            .expect_domain_problem(404, "pass-not-found");
    }
}

#[tokio::test]
async fn the_child_publiq_lists_under_its_parents_number_is_found_by_its_insz_number() {
    let sb = Sandbox::start().await;
    let parent = sb.pass_by_identifier(FAMILY_PARENT).await.expect_ok().clone();
    let child = sb.pass_by_identifier(FAMILY_CHILD_INSZ).await.expect_ok().clone();
    assert_eq!(child["uitpasNumber"], FAMILY_PARENT, "as published: {child}");
    assert_ne!(child["passholderId"], parent["passholderId"]);
    assert_ne!(child["firstName"], parent["firstName"]);
    assert_eq!(child["socialTariff"]["status"], "NONE");
}

#[tokio::test]
async fn the_family_passes_with_social_tariff_get_it() {
    let sb = Sandbox::start().await;
    for number in [FAMILY_ACTIVE_PARENT, FAMILY_ACTIVE_CHILD] {
        let gent = sb.social_tariff_id(TEST_EVENT, number).await;
        assert_eq!(
            sb.sell_ok(json!([line(number, TEST_EVENT, 10.0, &gent)])).await.len(),
            1
        );
    }
    let reply = sb.tariffs(TEST_EVENT, FAMILY_PARENT, 10.0).await;
    assert!(available(reply.expect_ok()).is_empty());
}

#[tokio::test]
async fn the_replaced_numbers_still_play_as_extras() {
    let sb = Sandbox::start().await;
    let old = sb.pass(OLD_GRACE_PERIOD).await.expect_ok().clone();
    let new = sb.pass(GRACE_PERIOD).await.expect_ok().clone();
    assert_eq!(old["socialTariff"], new["socialTariff"]);
    assert_eq!(old["messages"], new["messages"]);
    sb.pass(OLD_UNREGISTERED_NONE)
        .await
        .expect_domain_problem(404, "pass-not-found");
}

// === 10. at the door: check-in status, undoing and searching check-ins ========================

impl Sandbox {
    async fn checkin_status(&self, number: &str, event: &str) -> Reply {
        self.get(
            "/checkin-status",
            &format!("/checkin-status?uitpasNumber={number}&eventId={event}"),
        )
        .await
    }

    async fn delete_checkin(&self, id: &str) -> Reply {
        self.delete("/checkins/{checkinId}", &format!("/checkins/{id}")).await
    }

    async fn checkins(&self, query: &str) -> Reply {
        self.get("/checkins", &format!("/checkins?{query}")).await
    }

    async fn points(&self, number: &str) -> i64 {
        self.pass(number).await.expect_ok()["points"].as_i64().expect("points")
    }

    async fn passholder_id(&self, number: &str) -> String {
        let reply = self.pass(number).await;
        reply.expect_ok()["passholderId"]
            .as_str()
            .expect("a passholder id")
            .to_owned()
    }
}

/// Asserts a `CheckinStatus` that refuses, with a message for the passholder.
#[track_caller]
fn assert_not_allowed(reply: &Reply) {
    let body = reply.expect_ok();
    assert_eq!(body["allowed"], false, "{body}");
    assert!(
        body["endUserMessage"]["nl"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
}

#[tokio::test]
async fn the_checkin_status_allows_a_first_checkin_and_refuses_a_second_the_same_day() {
    let sb = Sandbox::start().await;
    let reply = sb.checkin_status(ACTIVE_GENT, TEST_EVENT).await;
    assert_eq!(reply.expect_ok(), &json!({ "allowed": true }));
    sb.checkin(ACTIVE_GENT, TEST_EVENT).await.expect_status(201);
    assert_not_allowed(&sb.checkin_status(ACTIVE_GENT, TEST_EVENT).await);
    // Another event, another passholder: still allowed.
    assert_eq!(
        sb.checkin_status(ACTIVE_GENT, LIMITED_EVENT).await.expect_ok()["allowed"],
        true
    );
    assert_eq!(
        sb.checkin_status(NO_SOCIAL, TEST_EVENT).await.expect_ok()["allowed"],
        true
    );
}

#[tokio::test]
async fn the_checkin_status_follows_the_events_hours_with_publiqs_messages() {
    let sb = Sandbox::start().await;
    let h = chrono::Duration::hours;
    let now_on = sb.create_event_ok(single_event(h(1), h(3))).await;
    let ended = sb.create_event_ok(single_event(h(-30), h(-26))).await;
    let later = sb.create_event_ok(single_event(h(3), h(5))).await;

    assert_eq!(
        sb.checkin_status(ACTIVE_GENT, &now_on).await.expect_ok()["allowed"],
        true
    );
    let reply = sb.checkin_status(ACTIVE_GENT, &ended).await;
    assert_not_allowed(&reply);
    assert_eq!(
        reply.body["endUserMessage"]["nl"],
        "Deze activiteit is afgelopen, je kan op deze activiteit geen punt meer sparen."
    );
    let reply = sb.checkin_status(ACTIVE_GENT, &later).await;
    assert_not_allowed(&reply);
    assert_ne!(
        reply.body["endUserMessage"]["nl"],
        "Deze activiteit is afgelopen, je kan op deze activiteit geen punt meer sparen."
    );
    // The status says what a check-in then does.
    sb.checkin(ACTIVE_GENT, &ended)
        .await
        .expect_domain_problem(400, "checkin-not-allowed");
    sb.checkin(ACTIVE_GENT, &now_on).await.expect_status(201);
}

#[tokio::test]
async fn the_checkin_status_of_unknown_passes_and_events_is_404_and_of_a_blocked_card_not_allowed() {
    let sb = Sandbox::start().await;
    sb.checkin_status(ACTIVE_GENT, UNKNOWN_EVENT)
        .await
        .expect_domain_problem(404, "event-not-found");
    for number in [NOT_LUHN, UNREGISTERED_ACTIVE, &with_check_digit("090000001234")] {
        sb.checkin_status(number, TEST_EVENT)
            .await
            .expect_domain_problem(404, "passholder-not-found");
    }
    assert_not_allowed(&sb.checkin_status(BLOCKED, TEST_EVENT).await);
    // CHECKINS_WRITE for the event's organizer is needed.
    sb.checkin_status(ACTIVE_GENT, NO_PERMISSION_EVENT)
        .await
        .expect_problem(403, FORBIDDEN);
}

#[tokio::test]
async fn deleting_a_checkin_takes_its_point_back_and_allows_a_new_one() {
    let sb = Sandbox::start().await;
    let before = sb.points(ACTIVE_GENT).await;
    let reply = sb.checkin(ACTIVE_GENT, TEST_EVENT).await;
    let id = reply.expect_status(201)["id"].as_str().expect("an id").to_owned();
    assert!(reply.body["creationDate"].is_string(), "{}", reply.body);
    assert_eq!(sb.points(ACTIVE_GENT).await, before + 1);

    let reply = sb.delete_checkin(&id).await;
    assert_eq!(reply.expect_status(204), &Value::Null);
    assert_eq!(sb.points(ACTIVE_GENT).await, before, "the point is taken back");
    assert_eq!(
        sb.checkin_status(ACTIVE_GENT, TEST_EVENT).await.expect_ok()["allowed"],
        true
    );

    sb.delete_checkin(&id).await.expect_status(404);
    sb.delete_checkin(&uuid::Uuid::new_v4().to_string())
        .await
        .expect_status(404);
    assert_eq!(sb.points(ACTIVE_GENT).await, before);
    sb.checkin(ACTIVE_GENT, TEST_EVENT).await.expect_status(201);
}

#[tokio::test]
async fn a_checkin_at_another_organizers_event_cannot_be_deleted_by_the_default_client() {
    let sb = Sandbox::start().await;
    let b = sb.as_client(CUSTOMER_B.0, CUSTOMER_B.1).await;
    let reply = b.checkin(ACTIVE_GENT, NO_PERMISSION_EVENT).await;
    let id = reply.expect_status(201)["id"].as_str().expect("an id").to_owned();
    sb.delete_checkin(&id).await.expect_problem(403, FORBIDDEN);
    b.delete("/checkins/{checkinId}", &format!("/checkins/{id}"))
        .await
        .expect_status(204);
}

#[tokio::test]
async fn checkins_of_a_passholder_are_listed_newest_first_per_organizer() {
    let sb = Sandbox::start().await;
    let holder = sb.passholder_id(ACTIVE_GENT).await;
    let first = sb.checkin(ACTIVE_GENT, TEST_EVENT).await.expect_status(201)["id"].clone();
    let second = sb.checkin(ACTIVE_GENT, LIMITED_EVENT).await.expect_status(201)["id"].clone();
    sb.checkin(NO_SOCIAL, TEST_EVENT).await.expect_status(201);

    let reply = sb
        .checkins(&format!("passholderId={holder}&organizerId={TEST_ORGANIZER}"))
        .await;
    let body = reply.expect_ok();
    assert_eq!(body["totalItems"], 2, "{body}");
    let ids: Vec<&Value> = body["member"]
        .as_array()
        .expect("member")
        .iter()
        .map(|c| &c["id"])
        .collect();
    assert_eq!(ids, vec![&second, &first], "newest first");
    assert_eq!(body["member"][0]["eventTitle"], "Test event met beperkte aankoop");
    assert_eq!(body["member"][0]["uitpasNumber"], ACTIVE_GENT);

    let reply = sb
        .checkins(&format!(
            "passholderId={holder}&organizerId={TEST_ORGANIZER}&eventTitle=festiviteit&limit=1"
        ))
        .await;
    let body = reply.expect_ok();
    assert_eq!(body["totalItems"], 1, "{body}");
    assert_eq!(body["member"][0]["id"], first);

    // Only organizers the client may read check-ins of.
    sb.checkins(&format!(
        "passholderId={holder}&organizerId={TEST_ORGANIZER}&organizerId={OTHER_ORGANIZER}"
    ))
    .await
    .expect_problem(403, FORBIDDEN);
    // Without an organizer: refused (the specification requires one, and declares no 400).
    let path = format!("/checkins?passholderId={holder}");
    let reply = sb.send(Method::GET, &path, Body::None, Auth::Issued).await;
    reply.expect_invalid_data_naming("organizerId");
}

#[tokio::test]
async fn ticket_sales_of_a_passholder_are_found_across_events_of_the_organizers_asked_for() {
    let sb = Sandbox::start().await;
    let gent = sb.social_tariff_id(TEST_EVENT, ACTIVE_GENT).await;
    sb.sell_ok(json!([
        line(ACTIVE_GENT, TEST_EVENT, 10.0, &gent),
        line(ACTIVE_GENT, LIMITED_EVENT, 10.0, &gent),
        line(GRACE_PERIOD, TEST_EVENT, 10.0, &gent),
    ]))
    .await;
    let holder = sb.passholder_id(ACTIVE_GENT).await;
    let reply = sb
        .sales_of_event(&format!("passholderId={holder}&organizerId={TEST_ORGANIZER}"))
        .await;
    let body = reply.expect_ok();
    assert_eq!(body["totalItems"], 2, "{body}");
    assert!(
        body["member"]
            .as_array()
            .expect("member")
            .iter()
            .all(|s| s["uitpasNumber"] == ACTIVE_GENT)
    );
    let reply = sb
        .sales_of_event(&format!(
            "passholderId={holder}&organizerId={TEST_ORGANIZER}&eventTitle=beperkte"
        ))
        .await;
    assert_eq!(reply.expect_ok()["totalItems"], 1);

    sb.sales_of_event(&format!("passholderId={holder}"))
        .await
        .expect_invalid_data_naming("organizerId");
    sb.sales_of_event(&format!("passholderId={holder}&organizerId={OTHER_ORGANIZER}"))
        .await
        .expect_problem(403, FORBIDDEN);
}

#[tokio::test]
async fn a_stored_sandbox_remembers_an_undone_checkin_after_a_restart() {
    let db = common::TestDatabase::create().await;
    let start = || async {
        let pool = sqlx::PgPool::connect(&db.url).await.expect("the test database");
        let stored = uitpas_checkout::sandbox::Sandbox::stored(Duration::from_secs(86_400), pool)
            .await
            .expect("the stored sandbox opens");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a port");
        let running = uitpas_checkout::sandbox::spawn_on(listener, stored).expect("it serves");
        let http = reqwest::Client::new();
        let mut sb = Sandbox {
            base: running.base_url(),
            running,
            http,
            token: String::new(),
        };
        sb.token = sb.new_token().await;
        sb
    };
    let sb = start().await;
    let before = sb.points(ACTIVE_GENT).await;
    let kept = sb.checkin(ACTIVE_GENT, LIMITED_EVENT).await.expect_status(201)["id"].clone();
    let undone = sb.checkin(ACTIVE_GENT, TEST_EVENT).await.expect_status(201)["id"].clone();
    sb.delete_checkin(undone.as_str().expect("an id"))
        .await
        .expect_status(204);
    sb.stop().await;

    let sb = start().await;
    assert_eq!(
        sb.points(ACTIVE_GENT).await,
        before + 1,
        "only the kept check-in counts"
    );
    assert_eq!(
        sb.checkin_status(ACTIVE_GENT, TEST_EVENT).await.expect_ok()["allowed"],
        true
    );
    assert_not_allowed(&sb.checkin_status(ACTIVE_GENT, LIMITED_EVENT).await);
    let holder = sb.passholder_id(ACTIVE_GENT).await;
    let reply = sb
        .checkins(&format!("passholderId={holder}&organizerId={TEST_ORGANIZER}"))
        .await;
    let body = reply.expect_ok();
    assert_eq!(body["totalItems"], 1, "{body}");
    assert_eq!(body["member"][0]["id"], kept);
    sb.delete_checkin(undone.as_str().expect("an id"))
        .await
        .expect_status(404);
    sb.stop().await;
}
