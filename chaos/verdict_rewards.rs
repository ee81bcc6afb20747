//! The verdict on the reward redemptions: what the shop was told, the `reward_redemptions` table
//! and UiTPAS's redemptions (`GET /_sandbox/rewards/redeemed`, cancelled ones included) compared.
//!
//! UiTPAS's redemptions carry nothing of ours: one is ours when a row records its id; one no row
//! records belongs to the row of the same pass and reward stored last before UiTPAS made it (the
//! campaign's passes redeem nothing else). Such an unrecorded redemption is a second one for that
//! row (or one left for a hold that ended), unless it was made past the service's window (README,
//! Limits (e): no watch for redemptions cancels it): then it is counted apart, and only fails the
//! verdict when the run has no faults beyond the window.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use anyhow::Context;
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::load::{CancelRecord, HoldFate};
use crate::rewards::{RedemptionRecord, RewardHoldAnswer, RewardTold};
use crate::verdict::histogram;

/// A row of `reward_redemptions`, as the verdict needs it.
#[derive(Debug, Clone)]
pub struct RewardRow {
    pub id: String,
    pub key: String,
    pub pass: String,
    pub reward: String,
    pub status: String,
    pub uitpas_id: Option<String>,
    pub hold_state: Option<String>,
    /// When it was stored, in ms since the epoch.
    pub created_ms: i64,
}

pub async fn read_reward_rows(db: &PgPool) -> anyhow::Result<Vec<RewardRow>> {
    type Row = (
        String,
        String,
        String,
        String,
        String,
        Option<String>,
        Option<String>,
        i64,
    );
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT id::text, idempotency_key, uitpas_number, reward_id, status, uitpas_redemption_id, hold_state,
                (extract(epoch FROM created_at) * 1000)::bigint
         FROM reward_redemptions",
    )
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(
            |(id, key, pass, reward, status, uitpas_id, hold_state, created_ms)| RewardRow {
                id,
                key,
                pass,
                reward,
                status,
                uitpas_id,
                hold_state,
                created_ms,
            },
        )
        .collect())
}

/// A redemption UiTPAS made.
#[derive(Debug, Clone)]
pub struct UitpasRedemption {
    pub id: String,
    pub reward: String,
    pub pass: String,
    /// When UiTPAS made it (`redeemDate`, to the second, rounded down), in ms since the epoch.
    pub at_ms: i64,
    pub active: bool,
}

/// Every redemption the sandbox ever made, cancelled ones included.
pub async fn uitpas_redemptions(http: &reqwest::Client, base: &str) -> anyhow::Result<Vec<UitpasRedemption>> {
    let all: Value = http
        .get(format!("{base}/_sandbox/rewards/redeemed"))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let list = all["redeemedRewards"]
        .as_array()
        .context("the sandbox's redeemed rewards")?;
    let text = |v: &Value, field: &str| v[field].as_str().unwrap_or_default().to_owned();
    list.iter()
        .map(|r| {
            let at = chrono::DateTime::parse_from_rfc3339(r["redeemDate"].as_str().unwrap_or_default())
                .with_context(|| format!("the redeemDate of {r}"))?;
            Ok(UitpasRedemption {
                id: text(r, "id"),
                reward: text(r, "rewardId"),
                pass: text(r, "uitpasNumber"),
                at_ms: at.timestamp_millis(),
                active: r["cancelledAt"].is_null(),
            })
        })
        .collect()
}

/// The counts of the redemptions; the first four must be 0.
#[derive(Debug, Default)]
pub struct RewardVerdict {
    /// Redemptions the shop was told are redeemed (201 `redeemed` not cancelled, a hold confirmed
    /// 200), or pending or redeemed in the table (not a hold released or expired), without their
    /// redemption active at UiTPAS (or with another UiTPAS id than the shop was told).
    pub lost: usize,
    /// UiTPAS redemptions active beyond what their row should have (one for a redeemed row,
    /// none for another), and active ones of no row at all.
    pub twice: usize,
    /// Holds released or expired with a UiTPAS redemption still active.
    pub left_for_unconfirmed_holds: usize,
    /// Cancellations the service accepted (204/202) not ending cancelled in the table and at UiTPAS.
    pub cancellations_not_settled: usize,
    /// Unrecorded active redemptions UiTPAS made past the window of their row (see
    /// [`past_window`]): the README's limit (e); counted in the above when the run has no fault
    /// beyond the window.
    pub doubles_past_window: usize,
    pub past_window_examples: Vec<String>,
    pub examples: Vec<String>,
}

impl RewardVerdict {
    fn example(&mut self, s: String) {
        if self.examples.len() < 20 {
            self.examples.push(s);
        }
    }
}

/// Whether UiTPAS may have made `u` past `row`'s window: longer than `window` after the row was
/// stored (`redeemDate` is rounded down to the second: up to a second more), and not the row's
/// own recorded redemption `recorded`. The row's first send, made when it was stored, commits
/// within `--max-delay` (shorter than the window) unless it is late; a send again comes only after
/// the window. (So a second commit of a send again is not told from a late one: the campaign
/// catches a first send made twice, the double a look prevents.)
fn past_window(u: &UitpasRedemption, row: &RewardRow, recorded: Option<&UitpasRedemption>, window: Duration) -> bool {
    u.at_ms + 1000 > row.created_ms + window.as_millis() as i64 && recorded.is_none_or(|r| r.id != u.id)
}

/// `window`: how long after a send UiTPAS may commit it by the service's rule; `late_by`: how far
/// past it a late commit lands at most (`--late-by`); `beyond_window`: whether the run has faults
/// that make UiTPAS commit later.
pub fn judge_rewards(
    records: &[RedemptionRecord],
    rows: &[RewardRow],
    uitpas: &[UitpasRedemption],
    window: Duration,
    late_by: Duration,
    beyond_window: bool,
) -> RewardVerdict {
    let mut v = RewardVerdict::default();
    let by_id: HashMap<&str, &UitpasRedemption> = uitpas.iter().map(|u| (u.id.as_str(), u)).collect();
    let recorded: HashSet<&str> = rows.iter().filter_map(|r| r.uitpas_id.as_deref()).collect();
    let records_by_key: HashMap<&str, &RedemptionRecord> = records.iter().map(|r| (r.key.as_str(), r)).collect();
    let mut of_pass: HashMap<(&str, &str), Vec<&RewardRow>> = HashMap::new();
    for row in rows {
        of_pass.entry((&row.pass, &row.reward)).or_default().push(row);
    }
    for list in of_pass.values_mut() {
        list.sort_by_key(|r| r.created_ms);
    }
    // Unrecorded active redemptions, by the row they belong to.
    let mut extras: HashMap<&str, Vec<&UitpasRedemption>> = HashMap::new();
    for u in uitpas.iter().filter(|u| u.active && !recorded.contains(u.id.as_str())) {
        // `redeemDate` is rounded down to the second.
        let owner = of_pass
            .get(&(u.pass.as_str(), u.reward.as_str()))
            .and_then(|list| list.iter().rev().find(|r| r.created_ms <= u.at_ms + 1000));
        match owner {
            Some(row) => extras.entry(row.id.as_str()).or_default().push(u),
            None => {
                v.twice += 1;
                v.example(format!(
                    "twice: UiTPAS redemption {} (reward {}, made {} ms) is active and of no redemption of ours",
                    u.id, u.reward, u.at_ms
                ));
            }
        }
    }
    for row in rows {
        let record = records_by_key.get(row.key.as_str()).copied();
        let recorded_u = row.uitpas_id.as_deref().and_then(|id| by_id.get(id)).copied();
        let recorded_active = recorded_u.is_some_and(|u| u.active);
        let group = of_pass
            .get(&(row.pass.as_str(), row.reward.as_str()))
            .map_or(&[][..], Vec::as_slice);
        // The row of the group stored last before `at` (less the second `redeemDate` drops), or
        // before this row.
        let owner_at = |at: i64| group.iter().rev().find(|r| r.created_ms <= at + 1000).copied();
        let previous = group.iter().rev().find(|r| r.created_ms < row.created_ms).copied();
        let recorded_of = |r: &RewardRow| r.uitpas_id.as_deref().and_then(|id| by_id.get(id)).copied();
        // A late commit of the row stored before this one, landing after this one was stored.
        let late_of_previous = |u: &UitpasRedemption| {
            previous.is_some_and(|p| {
                past_window(u, p, recorded_of(p), window)
                    && u.at_ms <= p.created_ms + (2 * window + late_by).as_millis() as i64
            })
        };
        let (mut past, mut within): (Vec<&UitpasRedemption>, Vec<&UitpasRedemption>) = extras
            .get(row.id.as_str())
            .into_iter()
            .flatten()
            .partition(|u| past_window(u, row, recorded_u, window) || late_of_previous(u));
        // A row whose look adopted an earlier row's late commit as its own (README, Limits (e):
        // the look cannot tell them apart): its own redemption, left unrecorded, is the double
        // that late commit made, not one of this row's.
        let adopted_late = recorded_u.is_some_and(|u| {
            late_of_previous(u)
                || (u.at_ms + 1000 < row.created_ms
                    && owner_at(u.at_ms).is_some_and(|earlier| past_window(u, earlier, recorded_of(earlier), window)))
        });
        if adopted_late && !within.is_empty() {
            past.push(within.remove(0));
        }
        v.doubles_past_window += past.len();
        for u in &past {
            if v.past_window_examples.len() < 20 {
                v.past_window_examples.push(format!(
                    "UiTPAS redemption {} made {} ms after redemption {} (key {}, {}, hold {:?}) was stored; it records {:?}",
                    u.id,
                    u.at_ms - row.created_ms,
                    row.id,
                    row.key,
                    row.status,
                    row.hold_state,
                    row.uitpas_id
                ));
            }
        }
        let counted = within.len() + if beyond_window { 0 } else { past.len() };
        let active = usize::from(recorded_active) + counted;
        let ended_hold = matches!(row.hold_state.as_deref(), Some("released" | "expired"));
        let kept = row.status == "redeemed" && !ended_hold;
        let told = record.is_some_and(RedemptionRecord::told_redeemed);
        let describe = |why: &str| {
            let extra: Vec<String> = within
                .iter()
                .chain(&past)
                .map(|u| format!("{} made {} ms after stored", u.id, u.at_ms - row.created_ms))
                .collect();
            format!(
                "{why}: redemption {} (key {}, reward {}, {} hold {:?}, UiTPAS id {:?} {}; unrecorded active [{}]; told {:?}, hold {:?}, {:?})",
                row.id,
                row.key,
                row.reward,
                row.status,
                row.hold_state,
                row.uitpas_id,
                recorded_u.map_or("unknown to UiTPAS", |u| if u.active { "active" } else { "cancelled" }),
                extra.join(", "),
                record.map(|r| r.told),
                record.map(|r| &r.answer),
                record.map(|r| &r.cancel),
            )
        };
        let promised = told || (!ended_hold && matches!(row.status.as_str(), "pending" | "redeemed"));
        let told_other_id = record
            .and_then(|r| r.told_uitpas_id.as_deref())
            .filter(|_| told)
            .is_some_and(|id| Some(id) != row.uitpas_id.as_deref());
        if promised && (!recorded_active || told_other_id) {
            v.lost += 1;
            v.example(describe("lost"));
        }
        let asked_cancel = record.is_some_and(|r| matches!(r.cancel, CancelRecord::Made(_)));
        if ended_hold {
            if active > 0 {
                v.left_for_unconfirmed_holds += 1;
                v.example(describe("left redeemed for an unconfirmed hold"));
            }
        } else if asked_cancel {
            if row.status != "cancelled" || active > 0 {
                v.cancellations_not_settled += 1;
                v.example(describe("cancellation not settled"));
            }
        } else if active > usize::from(kept) {
            v.twice += active - usize::from(kept);
            v.example(describe("twice"));
        }
    }
    let stored: HashSet<&str> = rows.iter().map(|r| r.key.as_str()).collect();
    for r in records
        .iter()
        .filter(|r| r.id.is_some() && !stored.contains(r.key.as_str()))
    {
        v.lost += 1;
        v.example(format!(
            "lost: redemption {} (reward {}) told {:?} has no row",
            r.key, r.reward, r.told
        ));
    }
    v
}

/// The redemptions' lines of the result: what the shop was told, the holds, the end states.
pub fn rewards_summary(records: &[RedemptionRecord], rows: &[RewardRow], uitpas: &[UitpasRedemption]) -> Value {
    let count = |f: &dyn Fn(&RedemptionRecord) -> bool| records.iter().filter(|r| f(r)).count();
    let made = |r: &RedemptionRecord| r.id.is_some();
    let refused: Vec<String> = records
        .iter()
        .filter_map(|r| match &r.answer {
            RewardHoldAnswer::Refused(status, kind) => Some(format!("{status} {kind}")),
            _ => None,
        })
        .collect();
    let end_states = histogram(rows.iter().map(|r| match r.hold_state.as_deref() {
        Some(hold) => match (hold, r.status.as_str()) {
            ("released", _) => "hold released",
            ("expired", _) => "hold expired",
            ("confirmed", "redeemed") => "hold confirmed, redeemed",
            _ => "hold, other",
        },
        None => r.status.as_str(),
    }));
    let mut at_uitpas = BTreeMap::new();
    for u in uitpas {
        *at_uitpas
            .entry(if u.active { "active" } else { "cancelled" })
            .or_insert(0usize) += 1;
    }
    json!({
        "sent": records.len(),
        "told_redeemed_201": count(&|r| r.told == RewardTold::Redeemed),
        "told_held_201": count(&|r| r.told == RewardTold::Held),
        "told_pending_202": count(&|r| r.told == RewardTold::Pending),
        "told_in_progress_409": count(&|r| r.told == RewardTold::Busy),
        "told_refused": histogram(records.iter().filter(|r| r.told == RewardTold::Refused).filter_map(|r| r.problem.as_deref())),
        "holds": count(&|r| r.hold.is_some() && made(r)),
        "holds_confirmed_200": count(&|r| matches!(r.answer, RewardHoldAnswer::Confirmed(_))),
        "holds_released_200": count(&|r| r.answer == RewardHoldAnswer::Released),
        "holds_left_to_expire": count(&|r| matches!(r.hold, Some((HoldFate::Expire, _))) && made(r)),
        "holds_refused": histogram(refused.iter().map(String::as_str)),
        "cancels_requested": count(&|r| matches!(r.cancel, CancelRecord::Made(_))),
        "cancels_told_202": count(&|r| r.cancel == CancelRecord::Made(202)),
        "end_states": end_states,
        "at_uitpas": at_uitpas,
    })
}

/// Redemptions or their confirm, release or cancellation that got no final answer.
pub fn rewards_unanswered(records: &[RedemptionRecord]) -> usize {
    records
        .iter()
        .filter(|r| {
            r.told == RewardTold::Unanswered
                || r.answer == RewardHoldAnswer::Unanswered
                || matches!(r.cancel, CancelRecord::Unanswered | CancelRecord::GaveUp)
        })
        .count()
}
