//! The token request: publiq's current path takes a form body (OpenID Connect client
//! credentials); the old `/oauth/token`, which publiq forwards, took JSON with an audience.

mod common;

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use common::{TestApp, TestOptions};
use serde_json::json;
use tokio::sync::Mutex;

type Seen = Arc<Mutex<Vec<(String, String, String)>>>;

/// A token server that records what it is sent and refuses it (the test only looks).
async fn token_server() -> (String, Seen) {
    let seen: Seen = Arc::default();
    let app = axum::Router::new()
        .fallback(
            |State(seen): State<Seen>, uri: axum::http::Uri, headers: HeaderMap, body: Bytes| async move {
                let kind = headers
                    .get("content-type")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_owned();
                seen.lock()
                    .await
                    .push((uri.path().to_owned(), kind, String::from_utf8_lossy(&body).into_owned()));
                (
                    axum::http::StatusCode::UNAUTHORIZED,
                    axum::Json(json!({"error": "invalid_client"})),
                )
            },
        )
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), seen)
}

async fn token_request_to(path: &'static str) -> (String, String, String) {
    let (server, seen) = token_server().await;
    let app = TestApp::spawn_with(TestOptions {
        configure: Box::new(move |c| c.uitpas_token_url = format!("{server}{path}")),
        ..TestOptions::default()
    })
    .await;
    // A pass lookup needs a token: the token server refuses it, so the lookup fails.
    let answer = app.get("/v1/passes/0900000067513").await;
    assert!(answer.status.is_server_error(), "{}", answer.body);
    let seen = seen.lock().await;
    assert!(!seen.is_empty(), "the token server was asked");
    seen[0].clone()
}

#[tokio::test]
async fn publiqs_current_token_path_gets_a_form_body() {
    let (path, kind, body) = token_request_to("/realms/uitid/protocol/openid-connect/token").await;
    assert_eq!(path, "/realms/uitid/protocol/openid-connect/token");
    assert_eq!(kind, "application/x-www-form-urlencoded");
    assert!(body.contains("grant_type=client_credentials"), "{body}");
    assert!(body.contains("client_id=test-client"), "{body}");
}

#[tokio::test]
async fn the_old_token_path_still_gets_json_with_the_audience() {
    let (_, kind, body) = token_request_to("/oauth/token").await;
    assert_eq!(kind, "application/json");
    let body: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["audience"], "https://api.publiq.be");
    assert_eq!(body["grant_type"], "client_credentials");
}
