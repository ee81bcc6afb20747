//! Read-backs: what the shop was told 201 (or 200 on a confirm) must never read back as less,
//! during the load, after each PostgreSQL crash, and after the settling.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use reqwest::Method;
use serde_json::Value;

use crate::load::{Answer, Load, ToldRegistered};

impl Load {
    /// Reads an order told 201 back (`GET /v1/registrations/{id}`): it must still read
    /// `registered`, each ticket sale registered or cancelled (or cancelling) with the UiTPAS id
    /// of the 201.
    pub async fn recheck(&self, told: &ToldRegistered) {
        let path = format!("/v1/registrations/{}", told.registration_id);
        let answer = self.send(Method::GET, &path, None, None).await;
        self.rereads.fetch_add(1, Ordering::Relaxed);
        let why = match answer {
            Answer::Unanswered(why) => {
                self.rereads_unanswered.fetch_add(1, Ordering::Relaxed);
                eprintln!("chaos: reading back order {} got no answer: {why}", told.key);
                return;
            }
            Answer::Final(200, view) => {
                let status = view["status"].as_str().unwrap_or("(none)");
                let sales: HashMap<&str, &Value> = view["ticketSales"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|s| Some((s["id"].as_str()?, s)))
                    .collect();
                let mut problems = Vec::new();
                if status != "registered" {
                    problems.push(format!("registration reads {status}"));
                }
                if sales.len() != told.sales.len() {
                    problems.push(format!("{} ticket sales, told {}", sales.len(), told.sales.len()));
                }
                for (id, uitpas_id) in &told.sales {
                    match sales.get(id.as_str()) {
                        None => problems.push(format!("ticket sale {id} is gone")),
                        Some(sale) => {
                            let now = sale["uitpasTicketSaleId"].as_str();
                            if now != uitpas_id.as_deref() {
                                problems.push(format!("ticket sale {id}: UiTPAS id {now:?}, told {uitpas_id:?}"));
                            }
                            let st = sale["status"].as_str().unwrap_or("(none)");
                            if !matches!(st, "registered" | "cancelling" | "cancelled") {
                                problems.push(format!("ticket sale {id} reads {st}"));
                            }
                        }
                    }
                }
                if problems.is_empty() {
                    return;
                }
                problems.join("; ")
            }
            Answer::Final(status, view) => format!("GET answered {status} {}", view["type"]),
        };
        let first = self
            .ids_changed_keys
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(told.key.clone());
        if first {
            let line = format!(
                "changed after told: order {} (registration {}): {why}",
                told.key, told.registration_id
            );
            eprintln!("chaos: {line}");
            self.ids_changed.lock().unwrap_or_else(|e| e.into_inner()).push(line);
        }
    }

    /// Reads back the `n` orders told 201 last (after a PostgreSQL crash: those most at risk).
    pub async fn recheck_recent(&self, n: usize) {
        let recent: Vec<ToldRegistered> = {
            let told = self.told.lock().unwrap_or_else(|e| e.into_inner());
            told[told.len().saturating_sub(n)..].to_vec()
        };
        self.recheck_many(recent, 8).await;
    }

    pub async fn recheck_many(&self, told: Vec<ToldRegistered>, concurrency: usize) {
        use futures::StreamExt;
        futures::stream::iter(told)
            .for_each_concurrent(concurrency, |t| async move { self.recheck(&t).await })
            .await;
    }

    pub fn ids_changed_after_told(&self) -> usize {
        self.ids_changed_keys.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

/// Reads back a random order told 201, one after the other, until the load is done.
pub async fn rereader(load: Arc<Load>) {
    while !load.finished.load(Ordering::Relaxed) {
        let pick = {
            let told = load.told.lock().unwrap_or_else(|e| e.into_inner());
            (!told.is_empty()).then(|| told[fastrand::usize(..told.len())].clone())
        };
        match pick {
            Some(t) => load.recheck(&t).await,
            None => tokio::time::sleep(Duration::from_millis(100)).await,
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
