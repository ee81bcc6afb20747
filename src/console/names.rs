//! Event names for the console, from UiTdatabank (Entry API `GET /events/{eventId}`), cached.
//!
//! A page never waits long for them: the names it lacks are asked all at once and waited for at
//! most [`WAIT`]; a name that comes later is kept for the next page (the lookup goes on in the
//! background), and until then the page shows the event's id. Only names found are kept, for an
//! hour; a failure is asked again next time.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use uuid::Uuid;

use super::html::Lang;
use crate::cache::Coalesced;
use crate::customers::Customers;
use crate::metrics::Metrics;

/// The longest a page waits for names it does not have.
pub const WAIT: Duration = Duration::from_millis(700);
/// How long a name is kept.
const TTL: Duration = Duration::from_secs(3600);

/// The names of events, in every language UiTdatabank has them (`{"nl": …, "fr": …}`).
#[derive(Clone)]
pub struct EventNames {
    cache: Coalesced<String, Value>,
}

impl EventNames {
    pub fn new(metrics: Arc<Metrics>) -> Self {
        EventNames {
            cache: Coalesced::new("console_event_names", TTL, 10_000, metrics),
        }
    }

    /// The names of `events` (event id, the customer whose credentials read it) in `lang`, or in
    /// the event's main language; events without a name within [`WAIT`] are left out.
    pub async fn names(&self, customers: &Customers, events: &[(String, Uuid)], lang: Lang) -> HashMap<String, String> {
        let mut lookups = Vec::new();
        for (event, customer) in events {
            let cache = self.cache.clone();
            let Ok(client) = customers.client(*customer) else {
                continue;
            };
            let event = event.clone();
            // Spawned: a lookup the page stops waiting for still fills the cache.
            lookups.push(tokio::spawn(async move {
                let load = {
                    let event = event.clone();
                    async move {
                        client
                            .event(&event)
                            .await
                            .map(|e| e.get("name").cloned().unwrap_or(Value::Null))
                    }
                };
                (event.clone(), cache.get_with(event, load).await.ok())
            }));
        }
        let mut names = HashMap::new();
        let all = futures::future::join_all(lookups);
        if let Ok(done) = tokio::time::timeout(WAIT, all).await {
            for (event, name) in done.into_iter().flatten() {
                if let Some(name) = name.as_deref().and_then(|n| in_lang(n, lang)) {
                    names.insert(event, name);
                }
            }
        } else {
            // Too slow: what is cached already still counts.
            for (event, _) in events {
                if let Some(name) = self.cache.hit(event).await.as_deref().and_then(|n| in_lang(n, lang)) {
                    names.insert(event.clone(), name);
                }
            }
        }
        names
    }
}

/// A multilingual name in `lang`, else in Dutch, else in any language it has.
fn in_lang(name: &Value, lang: Lang) -> Option<String> {
    let text = |v: &Value| v.as_str().map(str::to_owned).filter(|s| !s.trim().is_empty());
    if let Some(name) = text(name) {
        return Some(name);
    }
    let map = name.as_object()?;
    map.get(lang.code())
        .and_then(text)
        .or_else(|| map.get("nl").and_then(text))
        .or_else(|| map.values().find_map(text))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_name_is_read_in_the_language_asked_else_in_dutch() {
        let name = json!({"nl": "Festival", "fr": "Festival FR"});
        assert_eq!(in_lang(&name, Lang::Fr).as_deref(), Some("Festival FR"));
        assert_eq!(in_lang(&name, Lang::En).as_deref(), Some("Festival"));
        assert_eq!(in_lang(&json!({"de": "Fest"}), Lang::Nl).as_deref(), Some("Fest"));
        assert_eq!(in_lang(&Value::Null, Lang::Nl), None);
    }
}
