//! The "bare axum" reference of the benchmark (`bench/run`): one route answering a fixed JSON pass
//! status, on a default multi-thread tokio runtime, nothing else (no middleware, no cache, no
//! metrics). It is the ceiling the service's cached `GET /v1/passes/{n}` is compared with.
//!
//! `cargo run --release --example bench-bare -- 127.0.0.1:8099` (the address defaults to that).

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;

const BODY: &str = r#"{"passType":"INDIVIDUAL","socialTariff":{"status":"ACTIVE"},"messages":[]}"#;

async fn pass() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], BODY)
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:8099".into());
    let app = Router::new().route("/v1/passes/{uitpasNumber}", get(pass));
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("bench-bare listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app).await
}
