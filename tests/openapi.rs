//! The committed OpenAPI document must equal the one generated from the code.
//! Regenerate it with `UPDATE_OPENAPI=1 cargo test --test openapi`.

use std::path::PathBuf;

#[test]
fn the_committed_openapi_document_equals_the_generated_one() {
    let generated = uitpas_checkout::http::openapi()
        .to_pretty_json()
        .expect("the document serialises")
        + "\n";
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("openapi/openapi.json");
    if std::env::var_os("UPDATE_OPENAPI").is_some() {
        std::fs::write(&path, &generated).expect("openapi/openapi.json is writable");
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "openapi/openapi.json is stale: run `UPDATE_OPENAPI=1 cargo test --test openapi` and commit it"
    );
}

#[test]
fn every_operation_documents_its_problems() {
    let doc = serde_json::to_value(uitpas_checkout::http::openapi()).unwrap();
    let paths = doc["paths"].as_object().unwrap();
    assert!(paths.contains_key("/v1/passes/{uitpasNumber}"));
    for (path, item) in paths {
        for (method, op) in item.as_object().unwrap() {
            if path == "/healthz" || path == "/metrics" {
                continue;
            }
            let responses = op["responses"].as_object().unwrap();
            let has_problem = responses
                .values()
                .any(|r| r["content"].get("application/problem+json").is_some());
            assert!(has_problem, "{method} {path} documents no problem+json answer");
        }
    }
}
