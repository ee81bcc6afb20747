//! Black-box tests of the financial reports in the console (issue 24, item 5): an operator starts
//! the export of an organizer's report for a period UiTPAS suggests, sees it listed, and gets its
//! download link once UiTPAS has it ready; UiTPAS's refusals (a missing permission, a bad
//! period) and failures are explained on the page, never a 500. The app runs against the sandbox
//! over HTTP and a real PostgreSQL.

mod common;

use std::time::Duration;

use common::contract::Contract;
use common::fixtures::TEST_ORGANIZER;
use common::{TestApp, sandbox_token, until};
use reqwest::{StatusCode, header};
use serde_json::json;
use uitpas_checkout::config::{Secret, SecretList};
use uitpas_checkout::customers::DEFAULT_CUSTOMER;

const OPERATOR_KEY: &str = "operator-key-0123456789";
/// The client id the test app uses at the sandbox (tests/common/mod.rs).
const CLIENT_ID: &str = "test-client";

async fn app() -> TestApp {
    TestApp::spawn_configured(|c| {
        c.operator_keys = Some(SecretList(vec![Secret::new(OPERATOR_KEY)]));
    })
    .await
}

/// Lets the app's client read the test organizer's financial reports at the sandbox (a checkout
/// client does not have `ORGANIZERS_REPORTS` unless publiq grants it).
async fn grant_reports(app: &TestApp) {
    common::grant(
        &app.sandbox,
        CLIENT_ID,
        TEST_ORGANIZER,
        &[
            "TARIFFS_READ",
            "TICKETSALES_REGISTER",
            "TICKETSALES_SEARCH",
            "ORGANIZERS_REPORTS",
        ],
    )
    .await;
}

fn organizer() -> String {
    format!("{DEFAULT_CUSTOMER}:{TEST_ORGANIZER}")
}

/// A browser of the console: no redirects followed, the session cookie kept by hand.
struct Browser<'a> {
    app: &'a TestApp,
    http: reqwest::Client,
    cookie: String,
    csrf: String,
}

struct Page {
    status: StatusCode,
    location: String,
    text: String,
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
        let page = browser.get("/console/work").await;
        let at = page.text.find(r#"name="csrf" value=""#).expect("a form with the token") + 19;
        browser.csrf = page.text[at..at + 64].to_owned();
        browser
    }

    async fn read(response: reqwest::Response) -> Page {
        Page {
            status: response.status(),
            location: response
                .headers()
                .get(header::LOCATION)
                .map(|v| v.to_str().unwrap().to_owned())
                .unwrap_or_default(),
            text: response.text().await.unwrap(),
        }
    }

    async fn get(&self, path: &str) -> Page {
        let request = self.http.get(self.app.url(path)).header(header::COOKIE, &self.cookie);
        Self::read(request.send().await.unwrap()).await
    }

    async fn post(&self, path: &str, form: &[(&str, &str)]) -> Page {
        let mut fields = vec![("csrf", self.csrf.as_str())];
        fields.extend_from_slice(form);
        let request = self
            .http
            .post(self.app.url(path))
            .header(header::COOKIE, &self.cookie)
            .form(&fields);
        Self::read(request.send().await.unwrap()).await
    }
}

/// The value of the first option of the period select (the newest suggested period).
fn first_period(page: &str) -> String {
    let select = page.find(r#"name="period""#).expect("a period to pick");
    let at = select + page[select..].find(r#"option value=""#).unwrap() + 14;
    let end = at + page[at..].find('"').unwrap();
    page[at..end].to_owned()
}

/// The `href` of the download link on the page, when there is one.
fn download_link(page: &str) -> Option<String> {
    let link = page.find(r#"data-testid="download""#)?;
    let tag = page[..link].rfind("<a ")?;
    let at = tag + page[tag..].find(r#"href=""#)? + 6;
    let end = at + page[at..].find('"')?;
    Some(page[at..end].replace("&amp;", "&"))
}

#[tokio::test]
async fn an_operator_starts_a_report_for_a_suggested_period_sees_it_listed_and_downloads_it_when_ready() {
    let app = app().await;
    grant_reports(&app).await;
    let browser = Browser::log_in(&app).await;

    let form = browser.get("/console/reports").await;
    assert_eq!(form.status, 200, "{}", form.text);
    assert!(form.text.contains(r#"href="/console/reports""#), "linked from the menu");
    assert!(!form.text.contains(r#"data-testid="problem""#), "{}", form.text);
    let period = first_period(&form.text);
    let (start, end) = period.split_once('/').expect("start/end");
    assert!(start <= end && start.len() == 10, "{period}");

    let started = browser
        .post(
            "/console/reports",
            &[("organizer", organizer().as_str()), ("period", period.as_str())],
        )
        .await;
    assert_eq!(started.status, StatusCode::SEE_OTHER, "{}", started.text);
    assert!(
        started.location.starts_with("/console/reports?"),
        "{}",
        started.location
    );
    assert_eq!(app.upstream_calls("post-organizers-financial-reports").await, 1);

    // The first look finds the export under way, with the period asked for.
    let listed = browser.get(&started.location).await;
    assert_eq!(listed.status, 200);
    assert!(listed.text.contains(r#"data-testid="flash""#), "{}", listed.text);
    assert!(listed.text.contains(r#"data-status="STARTED""#), "{}", listed.text);
    assert!(listed.text.contains(&format!("{start} – {end}")), "{}", listed.text);
    assert!(download_link(&listed.text).is_none(), "no link before it is ready");

    let link = until("the report ready with its link", Duration::from_secs(10), async || {
        let page = browser.get("/console/reports").await;
        assert_eq!(page.status, 200, "{}", page.text);
        page.text
            .contains(r#"data-status="AVAILABLE""#)
            .then(|| download_link(&page.text))
            .flatten()
    })
    .await;
    assert!(link.starts_with(&app.sandbox.base_url()), "{link}");
    let zip = reqwest::get(&link).await.unwrap();
    assert_eq!(zip.status(), 200);
    assert_eq!(zip.headers()[header::CONTENT_TYPE], "application/x-zip-compressed");
    let bytes = zip.bytes().await.unwrap();
    assert_eq!(&bytes[..4], b"PK\x03\x04", "a zip");
    assert!(
        app.upstream_calls("get-organizers-financial-reports-reportId-downloadLink")
            .await
            >= 1
    );
}

#[tokio::test]
async fn a_missing_permission_at_uitpas_is_explained_on_the_page_not_a_500() {
    let app = app().await;
    let browser = Browser::log_in(&app).await;

    let page = browser.get("/console/reports").await;
    assert_eq!(page.status, 200, "{}", page.text);
    assert!(
        page.text.contains(r#"data-explanation="report-forbidden""#),
        "{}",
        page.text
    );
    assert!(page.text.contains("ORGANIZERS_REPORTS"), "{}", page.text);
    assert!(
        page.text.contains("https://api.publiq.be/probs/auth/forbidden"),
        "{}",
        page.text
    );

    let refused = browser
        .post(
            "/console/reports",
            &[
                ("organizer", organizer().as_str()),
                ("period", "custom"),
                ("from", "2026-01-01"),
                ("to", "2026-03-31"),
            ],
        )
        .await;
    assert_eq!(refused.status, 200, "{}", refused.text);
    assert!(
        refused.text.contains(r#"data-explanation="report-forbidden""#),
        "{}",
        refused.text
    );
    assert!(
        !refused.text.contains(r#"data-testid="financial-reports""#),
        "nothing listed"
    );
    assert_eq!(app.upstream_calls("post-organizers-financial-reports").await, 1);
}

#[tokio::test]
async fn a_bad_period_is_refused_with_a_clear_message() {
    let app = app().await;
    grant_reports(&app).await;
    let browser = Browser::log_in(&app).await;
    let browser = &browser;
    let custom = |from: &'static str, to: &'static str| {
        let organizer = organizer();
        async move {
            browser
                .post(
                    "/console/reports",
                    &[
                        ("organizer", organizer.as_str()),
                        ("period", "custom"),
                        ("from", from),
                        ("to", to),
                    ],
                )
                .await
        }
    };

    // Backwards: UiTPAS refuses it, and the page says which date and why.
    let backwards = custom("2026-06-30", "2026-01-01").await;
    assert_eq!(backwards.status, 200, "{}", backwards.text);
    assert!(
        backwards.text.contains(r#"data-explanation="report-period""#),
        "{}",
        backwards.text
    );
    let errors = backwards
        .text
        .find(r#"data-testid="schema-errors""#)
        .expect("the date and why");
    assert!(
        backwards.text[errors..].contains("<code>/endDate</code>: must not be before startDate"),
        "{}",
        backwards.text
    );
    assert_eq!(app.upstream_calls("post-organizers-financial-reports").await, 1);

    // Not a date at all: refused before UiTPAS is asked.
    let nonsense = custom("2026-02-30", "2026-03-31").await;
    assert_eq!(nonsense.status, 200, "{}", nonsense.text);
    assert!(
        nonsense.text.contains(r#"data-testid="report-invalid""#),
        "{}",
        nonsense.text
    );
    assert!(nonsense.text.contains("geen geldige periode"), "{}", nonsense.text);
    assert_eq!(app.upstream_calls("post-organizers-financial-reports").await, 1);
    assert!(
        !nonsense.text.contains(r#"data-testid="financial-reports""#),
        "nothing listed"
    );
}

#[tokio::test]
async fn a_status_uitpas_cannot_give_is_shown_in_the_list_and_the_report_comes_back_after() {
    let app = app().await;
    grant_reports(&app).await;
    let browser = Browser::log_in(&app).await;
    let started = browser
        .post(
            "/console/reports",
            &[("organizer", organizer().as_str()), ("period", "2026-01-01/2026-03-31")],
        )
        .await;
    assert_eq!(started.status, StatusCode::SEE_OTHER, "{}", started.text);

    app.fault(json!({"operation": "get-organizers-financial-reports-reportId", "mode": "error", "status": 503}))
        .await;
    let page = browser.get("/console/reports").await;
    assert_eq!(page.status, 200, "{}", page.text);
    assert!(
        page.text.contains("tijdelijke fout"),
        "explained as unavailable: {}",
        page.text
    );
    assert!(page.text.contains("2026-01-01 – 2026-03-31"), "still listed");

    app.clear_faults().await;
    until(
        "the report ready once UiTPAS answers",
        Duration::from_secs(10),
        async || {
            let page = browser.get("/console/reports").await;
            download_link(&page.text).is_some()
        },
    )
    .await;
}

#[tokio::test]
async fn the_sandbox_plays_the_financial_report_operations_as_publiqs_contract_says() {
    let app = app().await;
    grant_reports(&app).await;
    let contract = Contract::uitpas();
    let base = app.sandbox.base_url();
    let token = sandbox_token(&app.http, &base, CLIENT_ID).await;
    let reports = format!("{base}/organizers/{TEST_ORGANIZER}/financial-reports");
    let call = async |request: reqwest::RequestBuilder| {
        let answer = request.bearer_auth(&token).send().await.unwrap();
        let status = answer.status().as_u16();
        let kind = answer.headers()[header::CONTENT_TYPE].to_str().unwrap().to_owned();
        let body: serde_json::Value = answer.json().await.unwrap_or_default();
        (status, kind, body)
    };
    let template = "/organizers/{organizerId}/financial-reports";

    let (status, kind, periods) = call(app.http.get(format!("{reports}/periods"))).await;
    assert_eq!(status, 200, "{periods}");
    contract.assert_valid("GET", &format!("{template}/periods"), status, &kind, &periods);

    let (status, kind, refused) = call(
        app.http
            .post(&reports)
            .json(&json!({"startDate": "2026-06-30", "endDate": "2026-01-01"})),
    )
    .await;
    assert_eq!(status, 400, "{refused}");
    assert_eq!(refused["type"], "https://api.publiq.be/probs/body/invalid-data");
    contract.assert_valid("POST", template, status, &kind, &refused);

    let (status, kind, started) = call(app.http.post(&reports).json(&periods[0])).await;
    assert_eq!(
        (status, started["status"].as_str()),
        (200, Some("STARTED")),
        "{started}"
    );
    contract.assert_valid("POST", template, status, &kind, &started);
    let id = started["id"].as_i64().expect("an integer id");

    let (status, kind, early) = call(app.http.get(format!("{reports}/{id}/download-link"))).await;
    assert_eq!(status, 404, "not ready yet: {early}");
    contract.assert_valid(
        "GET",
        &format!("{template}/{{reportId}}/download-link"),
        status,
        &kind,
        &early,
    );
    let mut seen = Vec::new();
    for _ in 0..2 {
        let (status, kind, report) = call(app.http.get(format!("{reports}/{id}"))).await;
        contract.assert_valid("GET", &format!("{template}/{{reportId}}"), status, &kind, &report);
        seen.push(report["status"].as_str().unwrap_or("").to_owned());
    }
    assert_eq!(seen, ["STARTED", "AVAILABLE"]);
    let (status, kind, link) = call(app.http.get(format!("{reports}/{id}/download-link"))).await;
    assert_eq!(status, 200, "{link}");
    contract.assert_valid(
        "GET",
        &format!("{template}/{{reportId}}/download-link"),
        status,
        &kind,
        &link,
    );
    let zip = app
        .http
        .get(format!("{reports}/{id}.zip"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(zip.status(), 200);
    assert!(
        zip.headers()[header::CONTENT_DISPOSITION]
            .to_str()
            .unwrap()
            .starts_with("attachment;")
    );
    assert_eq!(&zip.bytes().await.unwrap()[..2], b"PK");
    assert_eq!(
        app.upstream_calls("get-organizers-financial-reports-reportId-zip")
            .await,
        1
    );

    let (status, kind, gone) = call(app.http.get(format!("{reports}/999"))).await;
    assert_eq!(gone["type"], "https://api.publiq.be/probs/uitpas/report-not-found");
    contract.assert_valid("GET", &format!("{template}/{{reportId}}"), status, &kind, &gone);
    let unknown = format!("{base}/organizers/{}/financial-reports/periods", uuid::Uuid::nil());
    let (status, kind, nobody) = call(app.http.get(unknown)).await;
    assert_eq!(nobody["type"], "https://api.publiq.be/probs/uitpas/organizer-not-found");
    contract.assert_valid("GET", &format!("{template}/periods"), status, &kind, &nobody);

    let other = sandbox_token(&app.http, &base, "another-client").await;
    let answer = app
        .http
        .get(format!("{reports}/periods"))
        .bearer_auth(other)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 403);
    let forbidden: serde_json::Value = answer.json().await.unwrap();
    assert_eq!(forbidden["type"], "https://api.publiq.be/probs/auth/forbidden");
}
