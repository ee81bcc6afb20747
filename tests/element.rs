//! The `<uitpas-discount>` element is served on every deployment (not only on the sandbox), as the
//! bytes of `clients/element/uitpas-discount.js`, cacheable for a year at its versioned path, to
//! any origin; and the SRI hash the docs give is the hash of those bytes.

mod common;

use common::TestApp;
use sha2::{Digest, Sha384};

const FILE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/clients/element/uitpas-discount.js");
const PACKAGE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/clients/element/package.json");

/// Standard base64 with padding (what an `integrity` attribute holds).
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn sri(bytes: &[u8]) -> String {
    format!("sha384-{}", base64(&Sha384::digest(bytes)))
}

fn version() -> String {
    let package: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(PACKAGE).unwrap()).unwrap();
    package["version"].as_str().unwrap().to_owned()
}

#[test]
fn base64_is_the_standard_one() {
    assert_eq!(base64(b""), "");
    assert_eq!(base64(b"f"), "Zg==");
    assert_eq!(base64(b"fo"), "Zm8=");
    assert_eq!(base64(b"foo"), "Zm9v");
    assert_eq!(base64(b"foobar"), "Zm9vYmFy");
}

#[tokio::test]
async fn the_element_is_served_as_the_file_with_immutable_caching_to_any_origin_without_the_sandbox() {
    // TestApp runs with client credentials: not on the embedded sandbox, so no demo.
    let app = TestApp::spawn().await;
    assert_eq!(app.http.get(app.url("/demo")).send().await.unwrap().status(), 404);
    let file = std::fs::read(FILE).unwrap();

    let versioned = format!("/element/{}/uitpas-discount.js", version());
    for (path, cache) in [
        (versioned.as_str(), "public, max-age=31536000, immutable"),
        ("/element/v1/uitpas-discount.js", "public, max-age=3600"),
    ] {
        let answer = app
            .http
            .get(app.url(path))
            .header("Origin", "https://tickets.any-shop.example")
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 200, "{path}");
        let header = |name: &str| answer.headers().get(name).map(|v| v.to_str().unwrap().to_owned());
        assert_eq!(
            header("content-type").as_deref(),
            Some("text/javascript; charset=utf-8"),
            "{path}"
        );
        assert_eq!(header("cache-control").as_deref(), Some(cache), "{path}");
        assert_eq!(header("access-control-allow-origin").as_deref(), Some("*"), "{path}");
        assert_eq!(
            header("cross-origin-resource-policy").as_deref(),
            Some("cross-origin"),
            "{path}"
        );
        assert_eq!(header("x-content-type-options").as_deref(), Some("nosniff"), "{path}");
        let body = answer.bytes().await.unwrap();
        assert!(
            body[..] == file[..],
            "{path}: the served bytes are not clients/element/uitpas-discount.js"
        );
        assert_eq!(sri(&body), sri(&file));
    }
    // Another version is not there (a path is never reused for other bytes).
    let other = app
        .http
        .get(app.url("/element/0.0.1/uitpas-discount.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 404);
}

#[test]
fn the_documented_sri_hash_and_version_are_those_of_the_file() {
    let file = std::fs::read(FILE).unwrap();
    let hash = sri(&file);
    let path = format!("/element/{}/uitpas-discount.js", version());
    for doc in ["docs/element.md", "clients/element/README.md"] {
        let text = std::fs::read_to_string(format!("{}/{doc}", env!("CARGO_MANIFEST_DIR"))).unwrap();
        assert!(
            text.contains(&format!("integrity=\"{hash}\"")),
            "{doc} must give integrity=\"{hash}\" (the file changed: update the hash, and the version)"
        );
        assert!(text.contains(&path), "{doc} must load the element from {path}");
        let stale: Vec<&str> = text
            .match_indices("sha384-")
            .map(|(i, _)| &text[i..(i + 71).min(text.len())])
            .filter(|h| *h != hash)
            .collect();
        assert!(stale.is_empty(), "{doc} holds other hashes: {stale:?}");
    }
    assert_eq!(uitpas_checkout::http::element::VERSION, version());
}
