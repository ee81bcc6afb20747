//! Black-box tests of the permissions page of the console and the capabilities of the admin API
//! (issue 24, item 4): per customer, each organizer `GET /permissions` lists (its name, id,
//! linked-ness, card systems) with what the service can and cannot do for it and the permission
//! missing; `_ALL` permissions and linked organizers as publiq answers them since 2026-08. The app
//! runs against the sandbox over HTTP and a real PostgreSQL.

mod common;

use common::TestApp;
use common::fixtures::TEST_ORGANIZER;
use reqwest::{Method, StatusCode, header};
use serde_json::{Value, json};
use uitpas_checkout::config::{Secret, SecretList};
use uitpas_checkout::customers::DEFAULT_CUSTOMER;
use uitpas_checkout::sandbox::dataset::OTHER_ORGANIZER;

const OPERATOR_KEY: &str = "operator-key-0123456789";
const ADMIN_KEY: &str = "test-admin-key-0123456789";
/// A client of the sandbox that may read tariffs and search sales of the test organizer, not register.
const NO_REGISTER_CLIENT: (&str, &str) = ("sandbox-no-register", "sandbox-nr");
/// An umbrella's client: the test organizer with EVENTS_READ_ALL, and OTHER_ORGANIZER linked to it.
const LINKED_CLIENT: (&str, &str) = ("sandbox-linked", "sandbox-l");

async fn app() -> TestApp {
    TestApp::spawn_configured(|c| {
        c.operator_keys = Some(SecretList(vec![Secret::new(OPERATOR_KEY)]));
        c.admin_keys = Some(SecretList(vec![Secret::new(ADMIN_KEY)]));
    })
    .await
}

async fn admin(app: &TestApp, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
    let answer = app.with_key(ADMIN_KEY, method, path, body, None).await;
    (answer.status.as_u16(), answer.body)
}

/// Makes a customer with these sandbox credentials; its id.
async fn customer(app: &TestApp, name: &str, (client_id, secret): (&str, &str)) -> String {
    let (status, body) = admin(
        app,
        Method::POST,
        "/admin/v1/customers",
        Some(json!({"name": name, "environment": "test", "clientId": client_id, "clientSecret": secret})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    body["customer"]["id"].as_str().unwrap().to_owned()
}

/// A browser of the console: no redirects followed, the session cookie kept by hand.
struct Browser<'a> {
    app: &'a TestApp,
    http: reqwest::Client,
    cookie: String,
    csrf: String,
}

impl<'a> Browser<'a> {
    async fn log_in(app: &'a TestApp) -> Self {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let login = http
            .post(app.url("/console/login"))
            .form(&[("key", OPERATOR_KEY)])
            .send()
            .await
            .unwrap();
        assert_eq!(login.status(), StatusCode::SEE_OTHER);
        let set = login.headers()[header::SET_COOKIE].to_str().unwrap();
        let mut browser = Browser {
            app,
            http,
            cookie: set.split(';').next().unwrap().to_owned(),
            csrf: String::new(),
        };
        let (_, page) = browser.get("/console/work").await;
        let at = page.find(r#"name="csrf" value=""#).expect("a form with the token") + 19;
        browser.csrf = page[at..at + 64].to_owned();
        browser
    }

    async fn get(&self, path: &str) -> (StatusCode, String) {
        let response = self
            .http
            .get(self.app.url(path))
            .header(header::COOKIE, &self.cookie)
            .send()
            .await
            .unwrap();
        (response.status(), response.text().await.unwrap())
    }

    async fn post(&self, path: &str, form: &[(&str, &str)]) -> (StatusCode, String) {
        let response = self
            .http
            .post(self.app.url(path))
            .header(header::COOKIE, &self.cookie)
            .form(form)
            .send()
            .await
            .unwrap();
        let location = response
            .headers()
            .get(header::LOCATION)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        (response.status(), location)
    }
}

/// The part of the page about one customer.
fn section<'p>(page: &'p str, customer: &str) -> &'p str {
    let start = page
        .find(&format!(r#"data-customer="{customer}""#))
        .unwrap_or_else(|| panic!("customer {customer} on the page"));
    let end = start + page[start..].find("</section>").unwrap();
    &page[start..end]
}

/// The part of a customer's section about one organizer (from its facts to its granted list).
fn organizer<'p>(section: &'p str, organizer: &str) -> &'p str {
    let start = section
        .find(&format!(r#"data-testid="organizer" data-organizer="{organizer}""#))
        .unwrap_or_else(|| panic!("organizer {organizer} in {section}"));
    let end = start + section[start..].find("</details>").unwrap();
    &section[start..end]
}

/// Whether the service can do `capability` for the organizer, as its row says.
fn can(organizer: &str, capability: &str) -> bool {
    let row = format!(r#"<tr data-capability="{capability}" data-can=""#);
    let at = organizer
        .find(&row)
        .unwrap_or_else(|| panic!("{capability} in {organizer}"))
        + row.len();
    match &organizer[at..at + 4] {
        "true" => true,
        "fals" => false,
        other => panic!("data-can {other}"),
    }
}

/// The card systems of an organizer, as its facts name them.
fn card_systems(organizer: &str) -> &str {
    let at = organizer.find(r#"data-testid="card-systems">"#).unwrap() + 27;
    &organizer[at..at + organizer[at..].find("</dd>").unwrap()]
}

/// The missing permissions of a capability's row.
fn missing<'p>(organizer: &'p str, capability: &str) -> &'p str {
    let row = organizer.find(&format!(r#"data-capability="{capability}""#)).unwrap();
    let cell = row + organizer[row..].find(r#"data-testid="missing">"#).unwrap() + 22;
    &organizer[cell..cell + organizer[cell..].find("</td>").unwrap()]
}

#[tokio::test]
async fn the_page_shows_per_organizer_what_the_service_can_do_and_the_permission_missing() {
    let app = app().await;
    let no_register = customer(&app, "Zonder registratie", NO_REGISTER_CLIENT).await;
    let browser = Browser::log_in(&app).await;

    let (status, page) = browser.get("/console/permissions").await;
    assert_eq!(status, 200, "{page}");
    assert!(
        page.contains(r#"href="/console/permissions" aria-current="page""#),
        "linked from the menu"
    );

    // The default customer's client may do what a checkout needs for the test organizer.
    let default = section(&page, &DEFAULT_CUSTOMER.to_string());
    let test = organizer(default, TEST_ORGANIZER);
    assert!(
        default.contains(">[TEST] UiTPAS Organisatie (Regio Gent + Paspartoe)</h3>"),
        "{default}"
    );
    for capability in [
        "pass_lookup",
        "tariffs",
        "sell",
        "cancel",
        "settle",
        "checkin",
        "undo_checkin",
    ] {
        assert!(can(test, capability), "{capability}: {test}");
    }
    assert!(!can(test, "reports"));
    assert_eq!(missing(test, "reports"), "ORGANIZERS_REPORTS");
    // The card systems of the organizer and of each permission.
    assert_eq!(card_systems(test), "UiTPAS Regio Gent (1), Paspartoe (5)");
    assert!(test.contains(r#"data-permission="TICKETSALES_REGISTER""#), "{test}");

    // Without TICKETSALES_REGISTER: tariffs shown and unclear answers settled, nothing sold or cancelled.
    let limited = organizer(section(&page, &no_register), TEST_ORGANIZER);
    assert!(can(limited, "tariffs") && can(limited, "settle"));
    for capability in ["sell", "cancel"] {
        assert!(!can(limited, capability), "{capability}: {limited}");
        assert_eq!(missing(limited, capability), "TICKETSALES_REGISTER");
    }
    assert_eq!(missing(limited, "pass_lookup"), "PASSES_READ");

    // Once publiq grants it, reading again shows it (a POST with the session's token only).
    common::grant(
        &app.sandbox,
        NO_REGISTER_CLIENT.0,
        TEST_ORGANIZER,
        &["TARIFFS_READ", "TICKETSALES_SEARCH", "TICKETSALES_REGISTER"],
    )
    .await;
    let (status, _) = browser
        .post("/console/permissions/refresh", &[("customer", no_register.as_str())])
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "no CSRF token, no read");
    let (status, location) = browser
        .post(
            "/console/permissions/refresh",
            &[("csrf", browser.csrf.as_str()), ("customer", no_register.as_str())],
        )
        .await;
    assert_eq!(
        (status, location.as_str()),
        (StatusCode::SEE_OTHER, "/console/permissions?done=read")
    );
    let (_, page) = browser.get("/console/permissions?done=read").await;
    assert!(page.contains(r#"data-testid="flash""#));
    let granted = organizer(section(&page, &no_register), TEST_ORGANIZER);
    assert!(can(granted, "sell") && can(granted, "cancel"), "{granted}");

    // In French too.
    let french = browser
        .http
        .get(app.url("/console/permissions"))
        .header(header::COOKIE, format!("{}; uc_console_lang=fr", browser.cookie))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        french.contains("Vendre au tarif social") && french.contains("ne peut pas"),
        "{french}"
    );
}

#[tokio::test]
async fn an_all_permission_and_a_linked_organizer_are_shown_and_counted() {
    let app = app().await;
    let umbrella = customer(&app, "Koepel", LINKED_CLIENT).await;
    let browser = Browser::log_in(&app).await;
    let (_, page) = browser.get("/console/permissions").await;
    let section = section(&page, &umbrella);

    let own = organizer(section, TEST_ORGANIZER);
    assert!(own.contains("niet gekoppeld"), "{own}");
    assert!(own.contains(r#"data-permission="EVENTS_READ_ALL""#), "{own}");
    let all = own.find(r#"data-permission="EVENTS_READ_ALL""#).unwrap();
    assert!(own[all..].starts_with(r#"data-permission="EVENTS_READ_ALL"><code>EVENTS_READ_ALL</code> · geeft voor elk evenement van de organisator ook <code>EVENTS_READ</code>"#), "{own}");
    assert!(can(own, "sell") && can(own, "settle") && !can(own, "checkin"));

    // The linked organizer: its own card system, the organizer it is linked to, what it lacks.
    let linked = organizer(section, OTHER_ORGANIZER);
    let linked_to = linked.find(r#"data-testid="linked-to">"#).unwrap();
    assert!(
        linked[linked_to..].starts_with(r#"data-testid="linked-to">[TEST] UiTPAS Organisatie"#),
        "{linked}"
    );
    assert_eq!(card_systems(linked), "UiTPAS Regio Gent (1)");
    assert!(can(linked, "sell") && can(linked, "cancel"));
    assert!(!can(linked, "settle"));
    assert_eq!(missing(linked, "settle"), "TICKETSALES_SEARCH");
    // PASSES_READ is tied to no organizer: held for the umbrella, it counts for the linked one.
    assert!(can(linked, "pass_lookup"));

    // The admin API shows the same.
    let (status, body) = admin(&app, Method::GET, &format!("/admin/v1/customers/{umbrella}"), None).await;
    assert_eq!(status, 200, "{body}");
    let organizers = body["capabilities"].as_array().expect("capabilities");
    let linked = organizers
        .iter()
        .find(|o| o["organizerId"] == OTHER_ORGANIZER)
        .expect("the linked organizer");
    assert_eq!(linked["linkedTo"], json!([TEST_ORGANIZER]));
    assert_eq!(linked["cardSystems"], json!([{"id": 1, "name": "UiTPAS Regio Gent"}]));
    let settle = linked["capabilities"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["capability"] == "settle")
        .unwrap();
    assert_eq!(settle["can"], false);
    assert_eq!(settle["missing"], json!(["TICKETSALES_SEARCH"]));
    let own = body["permissions"]["organizers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["id"] == TEST_ORGANIZER)
        .unwrap();
    assert_eq!(own["permissionCardSystems"]["EVENTS_READ_ALL"], json!([1, 5]));
    let sell = organizers
        .iter()
        .find(|o| o["organizerId"] == TEST_ORGANIZER)
        .and_then(|o| {
            o["capabilities"]
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c["capability"] == "sell")
        })
        .unwrap();
    assert_eq!(
        (sell["can"].clone(), sell["cardSystemIds"].clone()),
        (json!(true), json!([1, 5]))
    );
}
