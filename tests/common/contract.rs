//! Contract checks: validate HTTP response bodies against the schemas that the
//! real `OpenAPI` documents (in `tests/contracts/`) declare for an operation.
//!
//! Usage:
//! ```ignore
//! Contract::uitpas().assert_valid("GET", "/passes", 200, "application/json", &body);
//! ```
#![allow(dead_code)]

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use jsonschema::{Draft, Validator};
use serde_json::{Map, Value};

/// Maximum number of schema violations listed in one error message.
const MAX_LISTED_ERRORS: usize = 50;

/// Maximum depth when following `$ref`s between response objects.
const MAX_REF_HOPS: usize = 16;

/// Cache key: (method, path template, declared status key, declared media type).
type CacheKey = (String, String, String, String);

/// A parsed `OpenAPI` document plus a lazily filled cache of compiled response validators.
pub struct Contract {
    /// Human-readable name of the document (its file name), used in messages.
    name: String,
    /// The parsed document, or the reason it could not be loaded.
    doc: Result<Value, String>,
    /// `components`, already converted to the JSON Schema dialect in use (shared by all validators).
    components: Value,
    /// JSON Schema draft used to compile the document's schemas.
    draft: Draft,
    /// Whether the document is OpenAPI 3.0 (schemas need `nullable` etc. converted).
    openapi30: bool,
    /// Compiled validators.
    cache: Mutex<HashMap<CacheKey, Arc<Validator>>>,
}

/// An operation of a document, by its operationId.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operation {
    pub id: String,
    pub method: String,
    pub path: String,
    pub deprecated: bool,
}

/// The response declaration selected for a request, before compiling.
enum Declared {
    /// The response declares no `content`: only an empty body is acceptable.
    NoContent,
    /// The media type declares no `schema`: any body is acceptable.
    AnyBody,
    /// The response body must match this schema.
    Schema {
        /// Cache key of the selected (path, method, status, media type).
        key: CacheKey,
        /// The raw (unconverted) schema.
        schema: Value,
    },
}

impl Contract {
    /// The UiTPAS API 4.0 contract (OpenAPI 3.0.0, validated as JSON Schema draft 7), loaded once.
    pub fn uitpas() -> &'static Contract {
        static CONTRACT: OnceLock<Contract> = OnceLock::new();
        CONTRACT.get_or_init(|| Contract::load(&contracts_dir().join("uitpas-api-4.0.openapi.json")))
    }

    /// The UiTdatabank Entry API 3.0 contract (OpenAPI 3.1.0, validated as JSON Schema 2020-12), loaded once.
    pub fn entry() -> &'static Contract {
        static CONTRACT: OnceLock<Contract> = OnceLock::new();
        CONTRACT.get_or_init(|| Contract::load(&contracts_dir().join("uitdatabank-entry-api-3.0.openapi.json")))
    }

    /// Loads an OpenAPI 3.0/3.1 document from `path`. Never panics: a load failure is
    /// reported by every later `check`.
    pub fn load(path: &Path) -> Contract {
        let name = path
            .file_name()
            .map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned());
        let doc = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read OpenAPI document {}: {e}", path.display()))
            .and_then(|text| {
                serde_json::from_str::<Value>(&text)
                    .map_err(|e| format!("cannot parse OpenAPI document {}: {e}", path.display()))
            });
        match doc {
            Ok(doc) => Contract::from_value(name, doc),
            Err(e) => Contract {
                name,
                doc: Err(e),
                components: Value::Object(Map::new()),
                draft: Draft::Draft202012,
                openapi30: false,
                cache: Mutex::new(HashMap::new()),
            },
        }
    }

    /// Builds a contract from an already parsed OpenAPI document; `name` is used in messages.
    /// References to the external documents in [`EXTERNAL_SCHEMAS`] are replaced by their local
    /// copies first: the validator never goes online.
    pub fn from_value(name: impl Into<String>, mut doc: Value) -> Contract {
        inline_external_refs(&mut doc);
        let openapi30 = doc
            .get("openapi")
            .and_then(Value::as_str)
            .is_some_and(|v| v.starts_with("3.0"));
        let mut components = doc
            .get("components")
            .cloned()
            .unwrap_or_else(|| Value::Object(Map::new()));
        if openapi30 {
            convert_openapi30(&mut components);
        }
        Contract {
            name: name.into(),
            doc: Ok(doc),
            components,
            draft: if openapi30 { Draft::Draft7 } else { Draft::Draft202012 },
            openapi30,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// Validates `body` against the schema the document declares for `method` (e.g. "GET") on the
    /// path template (e.g. "/passes/{uitpasNumber}"; a concrete path is matched against the
    /// templates as a fallback) for `status` and media type `content_type` (parameters such as
    /// `; charset=utf-8` are ignored). Falls back to an `NXX` range and then to the `default`
    /// response if the status is not declared. A response that declares no content only accepts
    /// `Value::Null` (an empty body); a media type without schema accepts anything.
    /// Errors: undeclared operation/status/media type, an uncompilable schema, or the list of
    /// schema violations with their instance paths.
    pub fn check(&self, method: &str, path: &str, status: u16, content_type: &str, body: &Value) -> Result<(), String> {
        let what = format!(
            "{} {} {} {} [{}]",
            method.to_ascii_uppercase(),
            path,
            status,
            content_type,
            self.name
        );
        let declared = self
            .declared(method, path, status, content_type)
            .map_err(|e| format!("{what}: {e}"))?;
        let (key, schema) = match declared {
            Declared::AnyBody => return Ok(()),
            Declared::NoContent if body.is_null() => return Ok(()),
            Declared::NoContent => {
                return Err(format!(
                    "{what}: the document declares no response body, but got {}",
                    truncate(&body.to_string(), 200)
                ));
            }
            Declared::Schema { key, schema } => (key, schema),
        };
        let validator = self.validator(key, schema).map_err(|e| format!("{what}: {e}"))?;
        let errors: Vec<String> = validator
            .iter_errors(body)
            .map(|e| {
                let at = e.instance_path().as_str();
                let at = if at.is_empty() { "/" } else { at };
                format!("at {at}: {e} (schema: {})", e.schema_path().as_str())
            })
            .collect();
        if errors.is_empty() {
            return Ok(());
        }
        let mut msg = format!("{what}: {} schema violation(s):", errors.len());
        for e in errors.iter().take(MAX_LISTED_ERRORS) {
            let _ = write!(msg, "\n  - {}", truncate(e, 500));
        }
        if errors.len() > MAX_LISTED_ERRORS {
            let _ = write!(msg, "\n  ... and {} more", errors.len() - MAX_LISTED_ERRORS);
        }
        Err(msg)
    }

    /// Panics with a readable message (including the body) when `check` fails.
    #[track_caller]
    pub fn assert_valid(&self, method: &str, path: &str, status: u16, content_type: &str, body: &Value) {
        if let Err(e) = self.check(method, path, status, content_type, body) {
            let pretty = serde_json::to_string_pretty(body).unwrap_or_else(|_| body.to_string());
            panic!(
                "response does not match the OpenAPI contract:\n{e}\nbody:\n{}",
                truncate(&pretty, 4000)
            );
        }
    }

    /// Every operation the document declares: (operationId, method in upper case, path template,
    /// whether it is marked `deprecated`). Empty when the document could not be loaded.
    pub fn operations(&self) -> Vec<Operation> {
        let Some(paths) = self
            .doc
            .as_ref()
            .ok()
            .and_then(|d| d.get("paths"))
            .and_then(Value::as_object)
        else {
            return Vec::new();
        };
        paths
            .iter()
            .filter_map(|(template, item)| Some((template, item.as_object()?)))
            .flat_map(|(template, item)| {
                item.iter()
                    .filter(|(method, op)| is_http_method(method) && op.is_object())
                    .filter_map(move |(method, op)| {
                        Some(Operation {
                            id: op.get("operationId")?.as_str()?.to_owned(),
                            method: method.to_ascii_uppercase(),
                            path: template.clone(),
                            deprecated: op.get("deprecated").and_then(Value::as_bool).unwrap_or(false),
                        })
                    })
            })
            .collect()
    }

    /// The operation with this operationId, if the document declares it.
    pub fn operation(&self, id: &str) -> Option<Operation> {
        self.operations().into_iter().find(|op| op.id == id)
    }

    /// Finds the response declaration for the request.
    fn declared(&self, method: &str, path: &str, status: u16, content_type: &str) -> Result<Declared, String> {
        let doc = self.doc.as_ref().map_err(Clone::clone)?;
        let paths = doc
            .get("paths")
            .and_then(Value::as_object)
            .ok_or("the document has no `paths` object")?;
        let (template, item) =
            find_path_item(paths, path).ok_or_else(|| format!("path {path:?} is not declared in the document"))?;
        let method_lc = method.to_ascii_lowercase();
        let operation = item.get(&method_lc).filter(|op| op.is_object()).ok_or_else(|| {
            let declared: Vec<String> = item
                .iter()
                .filter(|(k, v)| v.is_object() && is_http_method(k))
                .map(|(k, _)| k.to_ascii_uppercase())
                .collect();
            format!(
                "operation {} {template} is not declared (declared methods: {})",
                method.to_ascii_uppercase(),
                list_or_none(&declared)
            )
        })?;
        let responses = operation
            .get("responses")
            .and_then(Value::as_object)
            .ok_or_else(|| format!("operation {method_lc} {template} declares no responses"))?;
        let exact = status.to_string();
        let range = format!("{}XX", status / 100);
        let status_key = [exact.as_str(), range.as_str(), "default"]
            .into_iter()
            .find_map(|k| responses.keys().find(|declared| declared.eq_ignore_ascii_case(k)))
            .ok_or_else(|| {
                let declared: Vec<String> = responses.keys().cloned().collect();
                format!(
                    "status {status} is not declared and there is no default response (declared: {})",
                    list_or_none(&declared)
                )
            })?;
        let response = resolve_ref(doc, &responses[status_key])?;
        // A missing or empty `content` map means the response has no body.
        let Some(content) = response
            .get("content")
            .and_then(Value::as_object)
            .filter(|c| !c.is_empty())
        else {
            return Ok(Declared::NoContent);
        };
        let wanted = essence(content_type);
        let (media, media_obj) = content
            .iter()
            .find(|(declared, _)| essence(declared) == wanted)
            .ok_or_else(|| {
                let declared: Vec<String> = content.keys().cloned().collect();
                format!(
                    "media type {wanted:?} is not declared for status {status_key} (declared: {})",
                    list_or_none(&declared)
                )
            })?;
        let media_obj = resolve_ref(doc, media_obj)?;
        let Some(schema) = media_obj.get("schema") else {
            return Ok(Declared::AnyBody);
        };
        Ok(Declared::Schema {
            key: (method_lc, template.to_owned(), status_key.clone(), media.clone()),
            schema: schema.clone(),
        })
    }

    /// Returns the cached validator for `key`, compiling `schema` on first use.
    fn validator(&self, key: CacheKey, schema: Value) -> Result<Arc<Validator>, String> {
        if let Some(v) = self.lock_cache().get(&key) {
            return Ok(Arc::clone(v));
        }
        let mut schema = schema;
        if self.openapi30 {
            convert_openapi30(&mut schema);
        }
        let mut root = Map::new();
        root.insert("allOf".to_owned(), Value::Array(vec![schema]));
        root.insert("components".to_owned(), self.components.clone());
        let root = Value::Object(root);
        let validator = jsonschema::options()
            .with_draft(self.draft)
            .should_validate_formats(false)
            .offline()
            .build(&root)
            .map_err(|e| format!("cannot compile the response schema: {e}"))?;
        let validator = Arc::new(validator);
        self.lock_cache().entry(key).or_insert_with(|| Arc::clone(&validator));
        Ok(validator)
    }

    /// Locks the cache, ignoring poisoning (the cache stays consistent).
    fn lock_cache(&self) -> std::sync::MutexGuard<'_, HashMap<CacheKey, Arc<Validator>>> {
        self.cache.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// External schemas the documents reference, with the local copy (in `tests/contracts/`) that
/// stands in for each.
const EXTERNAL_SCHEMAS: [(&str, &str); 1] = [(
    "https://raw.githubusercontent.com/cultuurnet/apidocs/main/projects/errors/models/Error.json",
    "publiq-error.json",
)];

/// Replaces every `{"$ref": "<url>"}` of [`EXTERNAL_SCHEMAS`] in `doc` by the local copy, in
/// place. A copy that cannot be read leaves its references as they are (an uncompilable schema
/// is then reported by `check`).
fn inline_external_refs(doc: &mut Value) {
    let copies: HashMap<&str, Value> = EXTERNAL_SCHEMAS
        .iter()
        .filter_map(|(url, file)| {
            let text = std::fs::read_to_string(contracts_dir().join(file)).ok()?;
            Some((*url, serde_json::from_str(&text).ok()?))
        })
        .collect();
    fn walk(value: &mut Value, copies: &HashMap<&str, Value>) {
        match value {
            Value::Array(items) => items.iter_mut().for_each(|v| walk(v, copies)),
            Value::Object(map) => {
                let copy = map.get("$ref").and_then(Value::as_str).and_then(|url| copies.get(url));
                if let Some(copy) = copy {
                    *value = copy.clone();
                } else {
                    map.values_mut().for_each(|v| walk(v, copies));
                }
            }
            _ => {}
        }
    }
    walk(doc, &copies);
    inline_relative_models(doc);
}

/// The models of [`RELATIVE_MODELS`], for documents that reference them as `../models/<name>.json`
/// without carrying them (publiq's Entry API document of 2026-08): each reference becomes
/// `#/components/schemas/<Name>` and the models join the document's components. A reference to a
/// model the copy lacks stays as it is (an uncompilable schema is then reported by `check`).
const RELATIVE_MODELS: &str = "uitdatabank-entry-models.json";

fn inline_relative_models(doc: &mut Value) {
    let Ok(text) = std::fs::read_to_string(contracts_dir().join(RELATIVE_MODELS)) else {
        return;
    };
    let Ok(Value::Object(mut models)) = serde_json::from_str::<Value>(&text) else {
        return;
    };
    let Some(Value::Object(models)) = models.remove("schemas") else {
        return;
    };
    fn component(name: &str) -> String {
        let mut chars = name.chars();
        chars
            .next()
            .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
            .unwrap_or_default()
    }
    fn walk(value: &mut Value, models: &Map<String, Value>, used: &mut bool) {
        match value {
            Value::Array(items) => items.iter_mut().for_each(|v| walk(v, models, used)),
            Value::Object(map) => {
                let local = map
                    .get("$ref")
                    .and_then(Value::as_str)
                    .and_then(|r| r.strip_prefix("../models/"))
                    .and_then(|r| r.strip_suffix(".json"))
                    .map(component)
                    .filter(|name| models.contains_key(name));
                if let Some(name) = local {
                    map.insert("$ref".into(), Value::String(format!("#/components/schemas/{name}")));
                    *used = true;
                } else {
                    map.values_mut().for_each(|v| walk(v, models, used));
                }
            }
            _ => {}
        }
    }
    let mut used = false;
    if let Some(paths) = doc.get_mut("paths") {
        walk(paths, &models, &mut used);
    }
    if !used {
        return;
    }
    let schemas = doc
        .as_object_mut()
        .map(|d| d.entry("components").or_insert_with(|| Value::Object(Map::new())))
        .and_then(Value::as_object_mut)
        .map(|c| c.entry("schemas").or_insert_with(|| Value::Object(Map::new())));
    if let Some(Value::Object(schemas)) = schemas {
        for (name, model) in models {
            schemas.entry(name).or_insert(model);
        }
    }
}

/// Directory holding the OpenAPI documents.
fn contracts_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests").join("contracts")
}

/// Whether `key` of a path item is an HTTP method (as opposed to `parameters`, `summary`, ...).
fn is_http_method(key: &str) -> bool {
    matches!(
        key,
        "get" | "put" | "post" | "delete" | "options" | "head" | "patch" | "trace"
    )
}

/// Finds the path item for `path`: an exact template match first, otherwise the template that a
/// concrete path matches with the most literal segments. Non-object entries are skipped.
fn find_path_item<'a>(paths: &'a Map<String, Value>, path: &str) -> Option<(&'a str, &'a Map<String, Value>)> {
    if let Some((k, Value::Object(item))) = paths.get_key_value(path) {
        return Some((k.as_str(), item));
    }
    let path = path.split(['?', '#']).next().unwrap_or(path);
    let segments: Vec<&str> = path.split('/').collect();
    paths
        .iter()
        .filter_map(|(template, item)| {
            let item = item.as_object()?;
            let tsegs: Vec<&str> = template.split('/').collect();
            if tsegs.len() != segments.len() {
                return None;
            }
            let mut literal = 0usize;
            for (t, s) in tsegs.iter().zip(&segments) {
                if t == s {
                    literal += 1;
                } else if !segment_matches(t, s) {
                    return None;
                }
            }
            Some((literal, template.as_str(), item))
        })
        .max_by_key(|(literal, _, _)| *literal)
        .map(|(_, template, item)| (template, item))
}

/// Whether the concrete segment `s` matches the template segment `t` (`prefix{param}suffix`).
fn segment_matches(t: &str, s: &str) -> bool {
    let (Some(open), Some(close)) = (t.find('{'), t.rfind('}')) else {
        return false;
    };
    if close < open || t[open + 1..close].contains(['{', '}']) {
        return false;
    }
    let (prefix, suffix) = (&t[..open], &t[close + 1..]);
    s.len() > prefix.len() + suffix.len() && s.starts_with(prefix) && s.ends_with(suffix)
}

/// Follows local `$ref`s (`#/...`) of response or media type objects.
fn resolve_ref<'a>(doc: &'a Value, mut value: &'a Value) -> Result<&'a Value, String> {
    for _ in 0..MAX_REF_HOPS {
        let Some(reference) = value.get("$ref").and_then(Value::as_str) else {
            return Ok(value);
        };
        let pointer = reference
            .strip_prefix('#')
            .ok_or_else(|| format!("external reference {reference:?} is not supported"))?;
        value = doc
            .pointer(pointer)
            .ok_or_else(|| format!("unresolvable reference {reference:?}"))?;
    }
    Err(format!("too many nested references (> {MAX_REF_HOPS})"))
}

/// Media type without parameters, lowercased: `Application/JSON; charset=utf-8` → `application/json`.
fn essence(media_type: &str) -> String {
    media_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase()
}

/// Converts OpenAPI 3.0 schema idioms to JSON Schema draft 7, in place, recursively:
/// `nullable: true` allows `null`; boolean `exclusiveMinimum`/`exclusiveMaximum` become numeric.
fn convert_openapi30(value: &mut Value) {
    match value {
        Value::Array(items) => items.iter_mut().for_each(convert_openapi30),
        Value::Object(map) => {
            map.values_mut().for_each(convert_openapi30);
            convert_exclusive(map, "exclusiveMinimum", "minimum");
            convert_exclusive(map, "exclusiveMaximum", "maximum");
            if map.get("nullable") == Some(&Value::Bool(true)) {
                map.remove("nullable");
                make_nullable(map);
            }
        }
        _ => {}
    }
}

/// Turns OpenAPI 3.0 `exclusiveX: true` + `bound` into draft 7 `exclusiveX: bound`.
fn convert_exclusive(map: &mut Map<String, Value>, exclusive: &str, bound: &str) {
    match map.get(exclusive) {
        Some(Value::Bool(true)) => {
            if let Some(b) = map.remove(bound) {
                map.insert(exclusive.to_owned(), b);
            } else {
                map.remove(exclusive);
            }
        }
        Some(Value::Bool(false)) => {
            map.remove(exclusive);
        }
        _ => {}
    }
}

/// Makes a (3.0) schema object accept `null` as well.
fn make_nullable(map: &mut Map<String, Value>) {
    match map.get_mut("enum") {
        Some(Value::Array(values)) if !values.contains(&Value::Null) => values.push(Value::Null),
        _ => {}
    }
    match map.get_mut("type") {
        Some(Value::String(t)) => {
            let t = std::mem::take(t);
            map.insert(
                "type".to_owned(),
                Value::Array(vec![Value::String(t), Value::String("null".to_owned())]),
            );
        }
        Some(Value::Array(types)) => {
            let null = Value::String("null".to_owned());
            if !types.contains(&null) {
                types.push(null);
            }
        }
        _ => {
            // No `type` (e.g. only `allOf`/`oneOf`/`$ref`): wrap the whole schema.
            let inner = std::mem::take(map);
            map.insert(
                "anyOf".to_owned(),
                Value::Array(vec![serde_json::json!({"type": "null"}), Value::Object(inner)]),
            );
        }
    }
}

/// Comma-separated list, or `none`.
fn list_or_none(items: &[String]) -> String {
    if items.is_empty() {
        "none".to_owned()
    } else {
        items.join(", ")
    }
}

/// Shortens `s` to at most `max` characters (on a char boundary).
fn truncate(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}
