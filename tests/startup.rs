//! The first start of the real binary with mistaken settings: it stops with one line per problem,
//! naming the setting and what was tried, never a secret, no backtrace, a failing exit code.

mod common;

use common::service::{Service, run_to_exit};
use common::{TestDatabase, postgres_url};
use sqlx::Connection;

/// Production settings that pass every check (the publiq URLs are never called before the
/// database is ready).
const PRODUCTION: [(&str, &str); 7] = [
    ("APP_ENV", "production"),
    ("UITPAS_CLIENT_ID", "first-hour-client"),
    ("UITPAS_CLIENT_SECRET", "first-hour-client-secret"),
    ("SHOP_API_KEYS", "first-hour-shop-key-0123456789"),
    ("UITPAS_BASE_URL", "https://api.uitpas.be"),
    (
        "UITPAS_TOKEN_URL",
        "https://account.uitid.be/realms/uitid/protocol/openid-connect/token",
    ),
    ("UITDATABANK_BASE_URL", "https://io.uitdatabank.be"),
];

/// A loopback port nothing listens on.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// The lines that report a start-up problem.
fn problems(output: &str) -> Vec<&str> {
    output.lines().filter(|l| l.contains("cannot start")).collect()
}

async fn database_exists(name: &str) -> bool {
    let mut admin = sqlx::PgConnection::connect(&format!("{}/postgres", postgres_url()))
        .await
        .unwrap();
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
        .bind(name)
        .fetch_one(&mut admin)
        .await
        .unwrap()
}

/// The setting a run must name, the settings it runs with, and the secrets it must not print.
type WrongSecret = (&'static str, Vec<(&'static str, String)>, Vec<&'static str>);

#[tokio::test]
async fn a_wrong_secret_setting_is_named_and_its_value_never_printed() {
    let port = closed_port();
    let malformed = "postgres://postgres:db-password-malformed@127.0.0.1:notaport/x".to_owned();
    let cases: Vec<WrongSecret> = vec![
        (
            "SHOP_API_KEYS",
            vec![("SHOP_API_KEYS", "a-long-enough-shop-key-1,shortkey-7".into())],
            vec!["a-long-enough-shop-key-1", "shortkey-7"],
        ),
        (
            "SHOP_API_KEYS",
            vec![("APP_ENV", "production".into()), ("SHOP_API_KEYS", "tiny-key".into())],
            vec!["tiny-key"],
        ),
        (
            "UITPAS_CLIENT_SECRET",
            vec![("UITPAS_CLIENT_SECRET", "client-secret-without-an-id".into())],
            vec!["client-secret-without-an-id"],
        ),
        (
            "DATABASE_URL",
            vec![(
                "DATABASE_URL",
                "postgres://no_such_role_first_hour:db-password-role@127.0.0.1:5432/x".into(),
            )],
            vec!["db-password-role"],
        ),
        (
            "DATABASE_URL",
            vec![(
                "DATABASE_URL",
                format!("postgres://postgres:db-password-closed@127.0.0.1:{port}/x"),
            )],
            vec!["db-password-closed"],
        ),
        (
            "DATABASE_URL",
            vec![(
                "DATABASE_URL",
                "mysql://root:db-password-mysql@127.0.0.1:3306/shop".into(),
            )],
            vec!["db-password-mysql"],
        ),
        (
            "DATABASE_URL",
            vec![("DATABASE_URL", malformed)],
            vec!["db-password-malformed"],
        ),
    ];
    for (setting, settings, secrets) in cases {
        let settings: Vec<(&str, &str)> = settings.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let (status, output) = run_to_exit(&settings).await;
        assert!(!status.success(), "{settings:?} must not start:\n{output}");
        assert!(output.contains(setting), "the problem names {setting}:\n{output}");
        for secret in secrets {
            assert!(!output.contains(secret), "the secret {secret} is printed:\n{output}");
        }
    }
}

#[tokio::test]
async fn a_client_secret_the_token_server_refuses_is_never_logged() {
    let sandbox = common::spawn_sandbox().await;
    let db = TestDatabase::create().await;
    let secret = "a-client-secret-publiq-refuses";
    // Refused from the start (the service reads its permissions before serving).
    let http = reqwest::Client::new();
    common::sandbox_fault(
        &sandbox,
        serde_json::json!({"operation": "post-oauth-token", "mode": "error", "status": 401}),
    )
    .await;
    let service = Service::start(&db, &sandbox, &[("UITPAS_CLIENT_SECRET", secret)]).await;
    let answer = http.get(service.url("/v1/passes/0900000067513")).send().await.unwrap();
    assert_eq!(answer.status(), 502);
    let logs = service.logs();
    service.terminate().await;
    assert!(logs.contains("token server answered 401"), "{logs}");
    assert!(!logs.contains(secret), "the client secret is in the logs:\n{logs}");
}

#[tokio::test]
async fn a_start_up_error_is_one_line_naming_the_setting_and_what_was_tried_without_a_backtrace() {
    let port = closed_port();
    let url = format!("postgres://first_hour_user:pw-closed-port@127.0.0.1:{port}/first_hour_db");
    let (status, output) = run_to_exit(&[("DATABASE_URL", &url), ("RUST_BACKTRACE", "1")]).await;
    assert!(!status.success(), "{output}");
    let lines = problems(&output);
    assert_eq!(lines.len(), 1, "one line for one problem:\n{output}");
    for tried in [
        "DATABASE_URL",
        &format!("127.0.0.1:{port}"),
        "first_hour_db",
        "first_hour_user",
        "Connection refused",
    ] {
        assert!(lines[0].contains(tried), "the line names {tried}:\n{output}");
    }
    for noise in ["Stack backtrace", "Caused by", "Error:", "pw-closed-port"] {
        assert!(!output.contains(noise), "{noise} is printed:\n{output}");
    }

    // PostgreSQL's own message appears once, not once per layer that repeats it.
    let url = "postgres://no_such_role_first_hour@127.0.0.1:5432/first_hour_db";
    let (status, output) = run_to_exit(&[("DATABASE_URL", url), ("RUST_BACKTRACE", "1")]).await;
    assert!(!status.success(), "{output}");
    let lines = problems(&output);
    assert_eq!(lines.len(), 1, "{output}");
    assert_eq!(
        output.matches("does not exist").count(),
        1,
        "the cause is said once:\n{output}"
    );
    assert!(lines[0].contains("127.0.0.1:5432"), "{output}");
    assert!(!output.contains("Stack backtrace"), "{output}");
}

#[tokio::test]
async fn a_database_url_that_is_not_postgres_is_refused_before_connecting() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let url = format!("mysql://shop:pw@127.0.0.1:{port}/shop");
    let (status, output) = run_to_exit(&[("DATABASE_URL", &url)]).await;
    assert!(!status.success(), "{output}");
    let lines = problems(&output);
    assert_eq!(lines.len(), 1, "{output}");
    assert!(lines[0].contains("DATABASE_URL"), "{output}");
    assert!(lines[0].contains("postgres://"), "it says what is expected:\n{output}");
    assert!(!output.contains("SSLRequest"), "{output}");
    let connected = tokio::time::timeout(std::time::Duration::from_millis(200), listener.accept()).await;
    assert!(connected.is_err(), "it connected to the MySQL port");
}

#[tokio::test]
async fn production_never_creates_a_missing_database() {
    let name = format!("first_hour_typo_{}", uuid::Uuid::new_v4().simple());
    let url = format!("{}/{name}", postgres_url());
    let mut settings = PRODUCTION.to_vec();
    settings.push(("DATABASE_URL", &url));
    let (status, output) = run_to_exit(&settings).await;
    assert!(!status.success(), "{output}");
    let lines = problems(&output);
    assert_eq!(lines.len(), 1, "{output}");
    assert!(lines[0].contains("DATABASE_URL"), "{output}");
    assert!(lines[0].contains(&name), "the line names the database:\n{output}");
    assert!(lines[0].contains("does not exist"), "{output}");
    assert!(!database_exists(&name).await, "production created {name}");
}

#[tokio::test]
async fn production_reports_every_problem_at_once() {
    let (status, output) = run_to_exit(&[
        ("APP_ENV", "production"),
        ("SHOP_API_KEYS", "short-key"),
        ("PUBLIC_ORIGINS", "*"),
        ("REPLAY_LEASE", "5s"),
        ("DATABASE_URL", "mysql://shop@127.0.0.1/shop"),
    ])
    .await;
    assert!(!status.success(), "{output}");
    let lines = problems(&output);
    for setting in [
        "UITPAS_CLIENT_ID",
        "SHOP_API_KEYS",
        "PUBLIC_ORIGINS",
        "REPLAY_LEASE",
        "DATABASE_URL",
        // publiq's test hosts, the defaults, are refused in production.
        "UITPAS_BASE_URL",
        "UITPAS_TOKEN_URL",
        "UITDATABANK_BASE_URL",
    ] {
        assert_eq!(
            lines.iter().filter(|l| l.contains(setting)).count(),
            1,
            "one line names {setting}:\n{output}"
        );
    }
    assert_eq!(lines.len(), 8, "one line per problem:\n{output}");
}

#[tokio::test]
async fn production_refuses_publiqs_test_hosts_and_any_environment_refuses_a_mix() {
    let mut settings = PRODUCTION.to_vec();
    settings.retain(|(name, _)| *name != "UITPAS_TOKEN_URL");
    settings.push((
        "UITPAS_TOKEN_URL",
        "https://account-test.uitid.be/realms/uitid/protocol/openid-connect/token",
    ));
    settings.push(("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres"));
    let (status, output) = run_to_exit(&settings).await;
    assert!(!status.success(), "{output}");
    let lines = problems(&output);
    assert_eq!(lines.len(), 1, "{output}");
    assert!(lines[0].contains("UITPAS_TOKEN_URL"), "{output}");
    assert!(
        lines[0].contains("https://account.uitid.be/realms/uitid/protocol/openid-connect/token"),
        "{output}"
    );

    settings.retain(|(name, _)| *name != "APP_ENV");
    let (status, output) = run_to_exit(&settings).await;
    assert!(!status.success(), "{output}");
    let lines = problems(&output);
    assert_eq!(lines.len(), 1, "{output}");
    assert!(lines[0].contains("mixed"), "{output}");
    assert!(lines[0].contains("UITPAS_TOKEN_URL on test"), "{output}");
}

#[tokio::test]
async fn production_refuses_a_webhook_url_that_is_not_public_https_without_quoting_it() {
    for url in [
        "https://hook-user:hunter2-hook@shop.example/hooks",
        "https://169.254.169.254/latest/meta-data/",
        "http://shop.example/hooks",
        "https://localhost:8080/admin/v1/customers",
    ] {
        let mut settings: Vec<(&str, &str)> = PRODUCTION.to_vec();
        settings.extend([("WEBHOOK_URL", url), ("WEBHOOK_SECRET", "whsec_first_hour_0123456789")]);
        let (status, output) = run_to_exit(&settings).await;
        assert!(!status.success(), "{output}");
        let lines = problems(&output);
        assert!(
            lines.iter().any(|l| l.contains("WEBHOOK_URL must")),
            "{url}: a line names WEBHOOK_URL:\n{output}"
        );
        assert!(!output.contains("hunter2"), "{output}");
    }
}

/// The migrations commit without waiting for the disk (`synchronous_commit = off`, see
/// `db::migrate`), and only they: the connection that ran them goes back to the pool waiting for
/// every commit again, as PostgreSQL's default has it.
#[tokio::test]
async fn the_migrations_are_applied_and_leave_no_pooled_connection_that_skips_the_disk() {
    let db = TestDatabase::create().await;
    // One connection: the pool's only one is the one the migrations ran on.
    let pool = uitpas_checkout::db::connect_and_migrate(&db.url, 1, false)
        .await
        .unwrap();
    let applied: i64 = sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations WHERE success")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(applied as usize, uitpas_checkout::db::MIGRATOR.iter().count());
    let setting: String = sqlx::query_scalar("SHOW synchronous_commit")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(setting, "on");
    pool.close().await;
}
