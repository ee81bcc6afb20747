//! The UiTPAS API 4.0 rewards ("pay with UiTPAS points"): `GET /rewards`, `GET /rewards/{rewardId}`,
//! `GET /rewards/{rewardId}/redeem-status`, `POST /rewards/redeemed`, `GET /rewards/redeemed` and
//! `DELETE /rewards/redeemed/{redeemedRewardId}`, as HTTP handlers over the sandbox's world (the
//! rules are in [`super::state`]); and the test hooks `GET /_sandbox/rewards/redeemed` and
//! `GET`/`PUT /_sandbox/passes/{uitpasNumber}/points`.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};

use super::Sandbox;
use super::clients::{Caller, Permission};
use super::dataset::{self, CARD_SYSTEMS, GENT};
use super::problem::{Problem, SchemaError};
use super::state::{REWARDS, Redemption, RewardData, RewardType, World, reward};
use super::store::Change;
use super::uitpas::{Params, json_body, optional, page, params, query_pairs, required, string_field, values};

fn date(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn period_json(reward: &RewardData) -> Value {
    let mut period = json!({ "begin": date(reward.begin) });
    if let Some(end) = reward.end {
        period["end"] = json!(date(end));
    }
    period
}

fn card_system_json(cs: &dataset::CardSystem) -> Value {
    json!({ "id": cs.id, "name": cs.name })
}

/// A reward as the specification's `Reward`; `unitsTaken` counts against its total now.
fn reward_json(world: &World, reward: &RewardData, now: DateTime<Utc>) -> Value {
    let organizer_name = dataset::organizer(reward.organizer).map_or("", |o| o.name);
    let mut v = json!({
        "id": reward.id,
        "title": reward.title,
        "type": reward.kind,
        "promotionalDescription": format!("{} (een voordeel van publiq's testdataset, in de sandbox).", reward.title),
        "publicationPeriod": period_json(reward),
        "redeemPeriod": period_json(reward),
        "grantingPeriod": period_json(reward),
        "points": reward.points,
        "categories": [reward.category],
        "moreInfoURL": format!("https://www.uitpas.be/voordelen/{}", reward.id),
        "owningCardSystem": card_system_json(&GENT),
        "allCardSystems": true,
        "applicableCardSystems": CARD_SYSTEMS.iter().map(card_system_json).collect::<Vec<_>>(),
        "organizers": [{ "id": reward.organizer, "name": organizer_name }],
        "status": "ACTIVE",
        "unitsTaken": world.units_taken(reward, now),
        "forKids": false,
        "sport": false,
        "featured": false,
        "online": reward.online,
    });
    if let Some(total) = reward.in_total {
        v["maxAvailableUnits"] = json!(total.volume);
    }
    if let Some(limit) = reward.per_passholder {
        v["redeemConstraint"] = json!({ "volume": limit.volume, "period": limit.period });
    }
    v
}

fn redeemed_json(world: &World, redemption: &Redemption, now: DateTime<Utc>) -> Value {
    let mut v = json!({
        "id": redemption.id,
        "reward": reward(&redemption.reward_id).map_or(Value::Null, |r| reward_json(world, r, now)),
        "redeemDate": date(redemption.at),
    });
    if let Some(code) = &redemption.redeem_code {
        v["redeemCode"] = json!(code);
        v["redeemInfo"] = json!({
            "text": "Vul deze code in bij het afrekenen in de webshop.",
            "link": "https://www.uitpas.be/webshop",
            "label": "Naar de webshop",
        });
    }
    v
}

/// A reward in the path: 404 `reward-not-found` when the dataset has none with that id.
fn path_reward(id: &str) -> Result<&'static RewardData, Problem> {
    reward(id).ok_or_else(|| Problem::reward_not_found(StatusCode::NOT_FOUND))
}

fn answer(result: Result<Value, Problem>) -> Response {
    match result {
        Ok(body) => Json(body).into_response(),
        Err(p) => p.into_response(),
    }
}

/// `GET /rewards[?organizerId…&type&start&limit]`: the rewards published now, filtered; no
/// permission is needed (publiq: only for parameters the sandbox does not play).
pub async fn search(State(sandbox): State<Sandbox>, RawQuery(raw): RawQuery) -> Response {
    let run = || -> Result<Value, Problem> {
        let pairs = query_pairs(raw.as_deref())?;
        let organizers = values(&pairs, "organizerId");
        let q: HashMap<String, String> = pairs.into_iter().collect();
        if organizers.iter().any(|o| dataset::organizer(o).is_none()) {
            return Err(Problem::organizer_not_found());
        }
        let kind = match optional(&q, "type") {
            None | Some("POINTS") => Some(RewardType::Points),
            Some("WELCOME") => Some(RewardType::Welcome),
            Some("ANY") => None,
            Some(_) => return Err(Problem::invalid_parameter("type", "must be POINTS, WELCOME or ANY")),
        };
        let (start, limit) = page(&q)?;
        let now = Utc::now();
        let found: Vec<&RewardData> = REWARDS
            .iter()
            .filter(|r| r.in_period(now))
            .filter(|r| kind.is_none_or(|k| r.kind == k))
            .filter(|r| organizers.is_empty() || organizers.iter().any(|o| o == r.organizer))
            .collect();
        let world = sandbox.world();
        let member: Vec<Value> = found
            .iter()
            .skip(start)
            .take(limit)
            .map(|r| reward_json(&world, r, now))
            .collect();
        Ok(json!({ "totalItems": found.len(), "member": member }))
    };
    answer(run())
}

/// `GET /rewards/{rewardId}`: needs REWARDS_READ for the reward's organizer.
pub async fn get(
    State(sandbox): State<Sandbox>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Response {
    let run = || -> Result<Value, Problem> {
        let reward = path_reward(&id)?;
        let world = sandbox.world();
        world.require_for_organizer(&caller.0, Permission::REWARDS_READ, reward.organizer)?;
        Ok(reward_json(&world, reward, Utc::now()))
    };
    answer(run())
}

/// `GET /rewards/{rewardId}/redeem-status?uitpasNumber=`: `{redeemable, reason?, message?}`;
/// needs REWARDS_REDEEM for the reward's organizer.
pub async fn redeem_status(
    State(sandbox): State<Sandbox>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    query: Params,
) -> Response {
    let run = || -> Result<Value, Problem> {
        let reward = path_reward(&id)?;
        let world = sandbox.world();
        world.require_for_organizer(&caller.0, Permission::REWARDS_REDEEM, reward.organizer)?;
        let q = params(query)?;
        let number = required(&q, "uitpasNumber")?;
        Ok(match world.may_redeem(reward, number, Utc::now())? {
            Ok(_) => json!({ "redeemable": true }),
            Err(refusal) => json!({
                "redeemable": false,
                "reason": refusal.reason(),
                "message": refusal.message().nl,
            }),
        })
    };
    answer(run())
}

/// `POST /rewards/redeemed` `{rewardId, uitpasNumber}`: 201 with the redeemed reward, its points
/// paid. An unknown reward in the body is 400 `reward-not-found`.
pub async fn redeem(State(sandbox): State<Sandbox>, Extension(caller): Extension<Caller>, body: Bytes) -> Response {
    let now = Utc::now();
    let run = || -> Result<Redemption, Problem> {
        let body = json_body(&body)?;
        if !body.is_object() {
            return Err(Problem::body_invalid_data(vec![SchemaError::new(
                "",
                "must be an object",
            )]));
        }
        let mut world = sandbox.world();
        // Forbidden comes before validation, as for ticket sales.
        if let Some(known) = body.get("rewardId").and_then(Value::as_str).and_then(reward) {
            world.require_for_organizer(&caller.0, Permission::REWARDS_REDEEM, known.organizer)?;
        }
        let mut errors = Vec::new();
        let reward_id = string_field(&body, "rewardId", "", &mut errors);
        let number = string_field(&body, "uitpasNumber", "", &mut errors);
        let (Some(reward_id), Some(number)) = (reward_id, number) else {
            return Err(Problem::body_invalid_data(errors));
        };
        let reward = reward(&reward_id).ok_or_else(|| Problem::reward_not_found(StatusCode::BAD_REQUEST))?;
        world.redeem(reward, &number, now)
    };
    let redemption = match run() {
        Ok(done) => done,
        Err(p) => return p.into_response(),
    };
    if let Err(p) = sandbox.keep(Change::Redeemed(&redemption)).await {
        return p.into_response();
    }
    let body = redeemed_json(&sandbox.world(), &redemption, now);
    (StatusCode::CREATED, Json(body)).into_response()
}

/// `GET /rewards/redeemed?uitpasNumber=|passholderId=&organizerId…[&rewardType&start&limit]`:
/// exactly one of `uitpasNumber` and `passholderId` (which needs `organizerId`); REWARDS_READ
/// for every organizer asked for, or for one at least.
pub async fn search_redeemed(
    State(sandbox): State<Sandbox>,
    Extension(caller): Extension<Caller>,
    RawQuery(raw): RawQuery,
) -> Response {
    let run = || -> Result<Value, Problem> {
        let pairs = query_pairs(raw.as_deref())?;
        let organizers = values(&pairs, "organizerId");
        let q: HashMap<String, String> = pairs.into_iter().collect();
        let world = sandbox.world();
        if organizers.is_empty() {
            world.require_anywhere(&caller.0, Permission::REWARDS_READ)?;
        }
        for organizer in &organizers {
            world.require_for_organizer(&caller.0, Permission::REWARDS_READ, organizer)?;
        }
        let now = Utc::now();
        let numbers = match (optional(&q, "uitpasNumber"), optional(&q, "passholderId")) {
            (Some(_), Some(_)) => {
                return Err(Problem::invalid_parameter(
                    "passholderId",
                    "cannot be used together with uitpasNumber",
                ));
            }
            (None, None) => {
                return Err(Problem::invalid_parameter(
                    "uitpasNumber",
                    "is required (or passholderId, with organizerId)",
                ));
            }
            (Some(number), None) => {
                let number =
                    super::state::strict_number(number).ok_or_else(Problem::invalid_uitpas_number_of_rewards)?;
                vec![number.as_str().to_owned()]
            }
            (None, Some(_)) if organizers.is_empty() => {
                return Err(Problem::invalid_parameter(
                    "organizerId",
                    "is required with passholderId",
                ));
            }
            (None, Some(holder)) => dataset::numbers_of_holder(holder, now),
        };
        let kind = match optional(&q, "rewardType") {
            None => None,
            Some("POINTS") => Some(RewardType::Points),
            Some("WELCOME") => Some(RewardType::Welcome),
            Some(_) => return Err(Problem::invalid_parameter("rewardType", "must be POINTS or WELCOME")),
        };
        let (start, limit) = page(&q)?;
        let (total, found) = world.redeemed_by(&numbers, &organizers, kind, start, limit);
        let member: Vec<Value> = found.into_iter().map(|r| redeemed_json(&world, r, now)).collect();
        Ok(json!({ "totalItems": total, "member": member }))
    };
    answer(run())
}

/// `DELETE /rewards/redeemed/{redeemedRewardId}`: 204, the points given back; needs
/// REWARDS_REDEEM for the reward's organizer; unknown or already cancelled is 404.
pub async fn cancel(
    State(sandbox): State<Sandbox>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Response {
    let cancelled = {
        let mut world = sandbox.world();
        let organizer = world
            .redemption(&id)
            .and_then(|r| reward(&r.reward_id))
            .map(|r| r.organizer);
        match organizer {
            Some(organizer) => world
                .require_for_organizer(&caller.0, Permission::REWARDS_REDEEM, organizer)
                .and_then(|()| world.cancel_redemption(&id, Utc::now())),
            None => Err(Problem::not_found_url().detail("No redeemed reward with this id.")),
        }
    };
    match cancelled {
        Ok(redemption) => match sandbox.keep(Change::RedemptionCancelled(&redemption)).await {
            Ok(()) => StatusCode::NO_CONTENT.into_response(),
            Err(p) => p.into_response(),
        },
        Err(p) => p.into_response(),
    }
}

// --- test hooks ---

/// `GET /_sandbox/rewards/redeemed`: every redemption ever made, cancelled ones included, oldest
/// first.
pub async fn ledger(State(sandbox): State<Sandbox>) -> Json<Value> {
    let world = sandbox.world();
    let redeemed: Vec<Value> = world
        .all_redemptions()
        .iter()
        .map(|r| {
            json!({
                "id": r.id,
                "rewardId": r.reward_id,
                "uitpasNumber": r.uitpas_number,
                "points": r.points,
                "redeemDate": date(r.at),
                "cancelledAt": r.cancelled_at.map(date),
            })
        })
        .collect();
    Json(json!({ "redeemedRewards": redeemed }))
}

fn balance_json(world: &World, number: &str) -> Result<Value, Problem> {
    let pass = super::state::strict_number(number)
        .and_then(|n| dataset::pass(n.as_str(), Utc::now()))
        .filter(|p| p.holder.is_some())
        .ok_or_else(Problem::pass_not_found)?;
    Ok(json!({ "uitpasNumber": pass.number, "points": world.points(&pass) }))
}

/// `GET /_sandbox/passes/{uitpasNumber}/points`: `{uitpasNumber, points}`, the balance.
pub async fn points(State(sandbox): State<Sandbox>, Path(number): Path<String>) -> Response {
    answer(balance_json(&sandbox.world(), &number))
}

/// `PUT /_sandbox/passes/{uitpasNumber}/points` with `{"points": N}`: the pass's balance becomes
/// N (at least 0); answers `{uitpasNumber, points}`.
pub async fn put_points(State(sandbox): State<Sandbox>, Path(number): Path<String>, body: Bytes) -> Response {
    let run = || -> Result<(String, i64), Problem> {
        let body = json_body(&body)?;
        let points = body
            .get("points")
            .and_then(Value::as_i64)
            .filter(|p| *p >= 0)
            .ok_or_else(|| {
                Problem::body_invalid_data(vec![SchemaError::new("/points", "must be an integer of at least 0")])
            })?;
        let change = sandbox.world().set_points(&number, points, Utc::now())?;
        Ok((number.trim().to_owned(), change))
    };
    let (number, change) = match run() {
        Ok(done) => done,
        Err(p) => return p.into_response(),
    };
    let id = uuid::Uuid::new_v4().to_string();
    if let Err(p) = sandbox
        .keep(Change::PointsChanged {
            id: &id,
            uitpas_number: &number,
            change,
        })
        .await
    {
        return p.into_response();
    }
    answer(balance_json(&sandbox.world(), &number))
}
