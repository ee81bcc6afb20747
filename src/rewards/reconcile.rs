//! Reconciliation of a customer's redemptions with UiTPAS, started from the console: for every
//! pass of the customer's redemptions, UiTPAS's list of the pass's redemptions
//! (`GET /rewards/redeemed?uitpasNumber=&start=&limit=`, cancelled ones not listed, `REWARDS_READ`)
//! is read whole and compared with the ledger; the lines are stored as a report. **Read-only**: a
//! reconciliation never changes a redemption, here or at UiTPAS.
//!
//! **Whose redemption it is.** UiTPAS's redemption carries no reference of ours: one the ledger
//! records (its `uitpas_redemption_id`) is ours, or another customer's of this service. One no
//! ledger records is `unknown_here` when it is of a reward this customer redeemed for that pass,
//! dated since the customer's first redemption of the pass (less the clock skew) — a redemption
//! whose answer was lost and never adopted, or one made elsewhere (a box office) that cannot be
//! told apart; any other is `elsewhere` (made through another channel), counted, not judged.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::Rewards;
use crate::domain::{UitpasNumber, mask};
use crate::uitpas::RedeemedReward;

/// The kinds of lines of a report, in the order the console shows them.
pub const KINDS: [&str; 7] = [
    "redeemed_here_only",
    "cancelled_here_only",
    "unknown_here",
    "unsettled",
    "other_customer",
    "elsewhere",
    "matched",
];

/// The kinds that are differences.
pub const DIFFERENCES: [&str; 3] = ["redeemed_here_only", "cancelled_here_only", "unknown_here"];

/// How far before the customer's first redemption of a pass one of UiTPAS's may still be ours.
const CLOCK_SKEW: chrono::TimeDelta = chrono::TimeDelta::seconds(60);
/// Pages of a pass's redemptions.
const PAGE: u32 = 50;

/// One line of a report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Line {
    pub kind: String,
    pub redemption_id: Option<Uuid>,
    pub uitpas_redemption_id: Option<String>,
    /// Masked.
    pub uitpas_number: String,
    pub reward_id: String,
    pub reward_title: Option<String>,
    /// Ours, as stored (`redeemed`, `cancelled`, …).
    pub status: Option<String>,
    /// UiTPAS's date of it, when UiTPAS lists it.
    pub redeemed_at: Option<DateTime<Utc>>,
}

/// One of the customer's redemptions, as the comparison needs it.
#[derive(Debug, Clone)]
pub struct Ours {
    pub id: Uuid,
    pub uitpas_number: String,
    pub reward_id: String,
    pub reward_title: Option<String>,
    pub status: String,
    pub uitpas_redemption_id: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// Compares one pass's redemptions: the customer's (`ours`) with UiTPAS's list (`theirs`);
/// `others`: UiTPAS ids other customers' ledgers record.
pub fn compare(number: &str, ours: &[Ours], theirs: &[RedeemedReward], others: &HashSet<String>) -> Vec<Line> {
    let masked = mask(number);
    let listed: HashMap<&str, &RedeemedReward> = theirs.iter().map(|r| (r.id.as_str(), r)).collect();
    let mut lines = Vec::new();
    let mut recorded = HashSet::new();
    for o in ours {
        let at_uitpas = o.uitpas_redemption_id.as_deref().and_then(|id| listed.get(id));
        if let Some(id) = &o.uitpas_redemption_id {
            recorded.insert(id.as_str());
        }
        let kind = match (o.status.as_str(), at_uitpas) {
            ("pending" | "cancelling", _) => "unsettled",
            ("redeemed", Some(_)) | ("cancelled" | "rejected", None) => "matched",
            ("redeemed", None) => "redeemed_here_only",
            ("cancelled", Some(_)) => "cancelled_here_only",
            // Rejected here, yet UiTPAS lists the id: cannot be (a rejected one has none).
            _ => "cancelled_here_only",
        };
        if o.status == "rejected" && kind == "matched" {
            // Nothing of it was ever at UiTPAS: not a line.
            continue;
        }
        lines.push(Line {
            kind: kind.into(),
            redemption_id: Some(o.id),
            uitpas_redemption_id: o.uitpas_redemption_id.clone(),
            uitpas_number: masked.clone(),
            reward_id: o.reward_id.clone(),
            reward_title: o.reward_title.clone(),
            status: Some(o.status.clone()),
            redeemed_at: at_uitpas.map(|r| r.redeem_date),
        });
    }
    let since = ours.iter().map(|o| o.created_at).min();
    let rewards: HashSet<&str> = ours.iter().map(|o| o.reward_id.as_str()).collect();
    let unsettled: HashSet<&str> = ours
        .iter()
        .filter(|o| o.status == "pending")
        .map(|o| o.reward_id.as_str())
        .collect();
    for r in theirs.iter().filter(|r| !recorded.contains(r.id.as_str())) {
        let kind = if others.contains(&r.id) {
            "other_customer"
        } else if !rewards.contains(r.reward.id.as_str()) || since.is_none_or(|s| r.redeem_date < s - CLOCK_SKEW) {
            "elsewhere"
        } else if unsettled.contains(r.reward.id.as_str()) {
            // Perhaps the one a pending redemption of ours waits to adopt.
            "unsettled"
        } else {
            "unknown_here"
        };
        lines.push(Line {
            kind: kind.into(),
            redemption_id: None,
            uitpas_redemption_id: Some(r.id.clone()),
            uitpas_number: masked.clone(),
            reward_id: r.reward.id.clone(),
            reward_title: Some(r.reward.title.clone()),
            status: None,
            redeemed_at: Some(r.redeem_date),
        });
    }
    lines
}

/// What a run came to.
enum Ended {
    Complete,
    Inconclusive(String),
    Failed(String),
}

impl Rewards {
    /// Stores a reconciliation of the customer's redemptions as running: its id.
    pub async fn begin_reconciliation(&self, customer_id: Uuid) -> sqlx::Result<Uuid> {
        let id = Uuid::new_v4();
        sqlx::query!(
            "INSERT INTO redemption_reconciliations (id, customer_id, status) VALUES ($1, $2, 'running')",
            id,
            customer_id
        )
        .execute(&self.db)
        .await?;
        Ok(id)
    }

    /// Runs reconciliation `run` of the customer's redemptions within `budget` calls to UiTPAS,
    /// and stores its lines and how it ended.
    pub async fn reconcile(&self, run: Uuid, customer_id: Uuid, budget: u32) {
        let mut calls = 0;
        let mut lines = Vec::new();
        let mut passes = 0;
        let ended = match self
            .reconcile_passes(customer_id, budget, &mut calls, &mut passes, &mut lines)
            .await
        {
            Ok(ended) => ended,
            Err(e) => Ended::Failed(format!("{e:#}")),
        };
        let (status, note) = match ended {
            Ended::Complete => ("complete", None),
            Ended::Inconclusive(note) => ("inconclusive", Some(note)),
            Ended::Failed(note) => ("failed", Some(note)),
        };
        let items = serde_json::to_value(&lines).unwrap_or_default();
        let stored = sqlx::query!(
            "UPDATE redemption_reconciliations
             SET status = $2, note = $3, calls = $4, passes = $5, items = $6, finished_at = now()
             WHERE id = $1",
            run,
            status,
            note,
            i32::try_from(calls).unwrap_or(i32::MAX),
            i32::try_from(passes).unwrap_or(i32::MAX),
            items
        )
        .execute(&self.db)
        .await;
        if let Err(e) = stored {
            tracing::error!(error = %e, %run, "storing a reconciliation of redemptions");
        }
        tracing::info!(%run, customer = %customer_id, status, calls, lines = lines.len(), "redemptions reconciled");
    }

    async fn reconcile_passes(
        &self,
        customer_id: Uuid,
        budget: u32,
        calls: &mut u32,
        passes: &mut usize,
        lines: &mut Vec<Line>,
    ) -> anyhow::Result<Ended> {
        let ours = sqlx::query_as!(
            Ours,
            r#"SELECT id, uitpas_number, reward_id, reward_title, status, uitpas_redemption_id, created_at
               FROM reward_redemptions WHERE customer_id = $1 ORDER BY uitpas_number, created_at"#,
            customer_id
        )
        .fetch_all(&self.db)
        .await?;
        let mut by_pass: Vec<(String, Vec<Ours>)> = Vec::new();
        for o in ours {
            match by_pass.last_mut() {
                Some((number, of_pass)) if *number == o.uitpas_number => of_pass.push(o),
                _ => by_pass.push((o.uitpas_number.clone(), vec![o])),
            }
        }
        let client = self.customers.client(customer_id)?;
        for (number, ours) in &by_pass {
            let parsed = UitpasNumber::parse(number)?;
            let mut theirs: Vec<RedeemedReward> = Vec::new();
            let mut start = 0u32;
            loop {
                if *calls >= budget {
                    return Ok(Ended::Inconclusive(format!(
                        "the bound of {budget} calls was reached: {} of {} passes read",
                        *passes,
                        by_pass.len()
                    )));
                }
                *calls += 1;
                let page = client
                    .redemptions_of_pass(&parsed, start, PAGE)
                    .await
                    .map_err(|e| anyhow::anyhow!("GET /rewards/redeemed for pass {}: {e}", mask(number)))?;
                let got = u32::try_from(page.member.len()).unwrap_or(u32::MAX);
                theirs.extend(page.member);
                start = start.saturating_add(got);
                if got == 0 || u64::from(start) >= page.total_items {
                    break;
                }
            }
            let unrecorded: Vec<String> = theirs.iter().map(|r| r.id.clone()).collect();
            let others: HashSet<String> = sqlx::query_scalar!(
                r#"SELECT uitpas_redemption_id AS "id!" FROM reward_redemptions
                   WHERE uitpas_redemption_id = ANY($1) AND customer_id <> $2"#,
                &unrecorded,
                customer_id
            )
            .fetch_all(&self.db)
            .await?
            .into_iter()
            .collect();
            lines.extend(compare(number, ours, &theirs, &others));
            *passes += 1;
        }
        Ok(Ended::Complete)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::uitpas::Reward;

    fn ours(n: u128, reward: &str, status: &str, uitpas: Option<&str>) -> Ours {
        Ours {
            id: Uuid::from_u128(n),
            uitpas_number: "0900000095902".into(),
            reward_id: reward.into(),
            reward_title: None,
            status: status.into(),
            uitpas_redemption_id: uitpas.map(str::to_owned),
            created_at: DateTime::from_timestamp(1_800_000_000, 0).unwrap(),
        }
    }

    fn theirs(id: &str, reward: &str, at: i64) -> RedeemedReward {
        let mut r: Reward = serde_json::from_value(serde_json::json!({"id": reward, "title": "T", "type": "POINTS"}))
            .expect("a reward");
        r.id = reward.into();
        RedeemedReward {
            id: id.into(),
            reward: r,
            redeem_date: DateTime::from_timestamp(at, 0).unwrap(),
            redeem_info: None,
            redeem_code: None,
        }
    }

    #[test]
    fn every_kind_of_line_is_told_apart() {
        let ours = [
            ours(1, "5687", "redeemed", Some("a")),
            ours(2, "5687", "redeemed", Some("b")),
            ours(3, "5687", "cancelled", Some("c")),
            ours(4, "5687", "cancelled", Some("d")),
            ours(5, "5687", "rejected", None),
            ours(6, "5823", "cancelling", Some("f")),
        ];
        let theirs = [
            theirs("a", "5687", 1_800_000_001),
            theirs("c", "5687", 1_800_000_001),
            theirs("x", "5687", 1_800_000_100),
            theirs("o", "5687", 1_800_000_100),
            theirs("old", "5687", 1_700_000_000),
            theirs("y", "9999", 1_800_000_100),
        ];
        let others = HashSet::from(["o".to_owned()]);
        let lines = compare("0900000095902", &ours, &theirs, &others);
        let kind_of = |uitpas: &str| {
            lines
                .iter()
                .find(|l| l.uitpas_redemption_id.as_deref() == Some(uitpas))
                .map(|l| l.kind.as_str())
        };
        assert_eq!(kind_of("a"), Some("matched"));
        assert_eq!(kind_of("b"), Some("redeemed_here_only"));
        assert_eq!(kind_of("c"), Some("cancelled_here_only"));
        assert_eq!(kind_of("d"), Some("matched"));
        assert_eq!(kind_of("f"), Some("unsettled"));
        assert_eq!(kind_of("x"), Some("unknown_here"));
        assert_eq!(kind_of("o"), Some("other_customer"));
        assert_eq!(kind_of("old"), Some("elsewhere"));
        assert_eq!(kind_of("y"), Some("elsewhere"));
        assert_eq!(lines.len(), 9, "a rejected one is no line: {lines:?}");
        assert!(lines.iter().all(|l| !l.uitpas_number.contains("95902")), "masked");
    }
}
