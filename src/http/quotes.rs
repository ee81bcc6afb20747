//! `POST /v1/quotes`: one answer for a whole cart. Each line may carry its own UiTPAS number (a
//! parent buying for three children enters three); the top-level number is the default for lines
//! without one. Every pass is looked up once (cached), the lines' tariffs are asked concurrently
//! (bounded), and a line that UiTPAS refuses carries its problem while the other lines are still
//! answered. A number used twice for one event is flagged locally (`duplicate-pass`), without
//! asking UiTPAS.
//!
//! A tariff's `remaining` counts for the whole cart, not per line: a single-use coupon offered on
//! two lines of the same pass can be taken on one of them only, and UiTPAS refuses the whole
//! registration (every line) when it is taken on both. The quote says which lines share such a
//! tariff (`sharedWithLines`) and, when the shop sends the buyer's picks (`tariffId`), which
//! line's pick goes over what is left (`choiceProblem`, `tariff-remaining-exceeded`).

use std::collections::HashMap;

use axum::extract::State;
use axum::http::StatusCode;
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::AppState;
use super::auth::Caller;
use super::extract::Json;
use super::problem::{ApiError, ApiResult, Problem};
use super::quote_rewards::{QuotedRewards, quote_rewards};
use super::tariffs::{event_id, uitpas_number};
use crate::cache::PassStatus;
use crate::domain::{EventId, Money, UitpasNumber};
use crate::uitpas::{AvailableTariff, EndUserMessage, TariffFilter, TariffType};

/// At most this many lines in one quote, and this many UiTPAS calls at once for one quote.
const MAX_LINES: usize = 50;
const CONCURRENCY: usize = 4;
const MAX_QUANTITY: u32 = 100;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct QuoteRequest {
    /// The UiTPAS number of every line that has none of its own. Required unless every line
    /// carries its own `uitpasNumber`.
    #[serde(default)]
    #[schema(example = "0900000067513", pattern = "^[0-9]{13}$")]
    pub uitpas_number: Option<String>,
    #[schema(min_items = 1, max_items = 50)]
    pub lines: Vec<QuoteLineRequest>,
    /// Also answer `rewards`: the rewards the quote's pass (top-level number, else the first
    /// line's) could spend its points on, with its balance. Costs the rate limit one unit more,
    /// plus one per reward UiTPAS is asked about (at most 3; over the limit they are left
    /// unchecked).
    #[serde(default)]
    pub rewards: bool,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct QuoteLineRequest {
    /// The UiTPAS number of this line's passholder; the top-level `uitpasNumber` when absent.
    /// One individual pass buys one discounted ticket per event: a parent buying for three
    /// children gives three lines, each with a child's number.
    #[serde(default)]
    #[schema(example = "0900000067513", pattern = "^[0-9]{13}$")]
    pub uitpas_number: Option<String>,
    #[schema(example = "5a0967f9-cc06-4c3c-9206-30481a767434", format = Uuid)]
    pub event_id: String,
    /// The regular price in euros.
    #[schema(value_type = f64, example = 10.0, minimum = 0)]
    pub regular_price: Money,
    /// How many tickets (1 to 100); default 1.
    #[serde(default = "one")]
    #[schema(default = 1, minimum = 1, maximum = 100)]
    pub quantity: u32,
    /// The tariff the buyer picked for this line, if any: the quote then checks the picks of the
    /// whole cart against each tariff's `remaining` and answers a `choiceProblem` on the line to
    /// change.
    #[serde(default)]
    pub tariff_id: Option<String>,
}

fn one() -> u32 {
    1
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Quote {
    /// The social-tariff status and the messages that must be shown of the top-level
    /// `uitpasNumber` (or, without one, of the first line's number).
    pub pass: PassStatus,
    /// Every pass of the cart, once, in the order of the lines (a pass UiTPAS refused is left
    /// out: its lines carry the problem).
    pub passes: Vec<QuotedPass>,
    /// One entry per requested line, in order.
    pub lines: Vec<QuoteLine>,
    /// With `rewards: true`: the rewards the pass could spend its points on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rewards: Option<QuotedRewards>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct QuoteLine {
    /// The line's UiTPAS number (its own or the top-level one).
    pub uitpas_number: String,
    pub event_id: String,
    #[schema(value_type = f64)]
    pub regular_price: Money,
    pub quantity: u32,
    /// The tariffs the pass may choose for this line (empty when refused).
    pub available: Vec<QuotedTariff>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_user_message: Option<EndUserMessage>,
    /// Why this line has no tariffs: UiTPAS's problem (an unknown event: status 400
    /// `https://api.publiq.be/probs/uitpas/event-not-found`, as for `GET /v1/tariffs`; an unknown
    /// pass of the line's own: 404 `https://api.publiq.be/probs/uitpas/pass-not-found`), or
    /// `urn:uitpas-checkout:problem:duplicate-pass` (409) for a UiTPAS number already used for
    /// the same event on an earlier line of the cart (flagged here, UiTPAS is not asked).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<Problem>,
    /// Why the buyer's pick (`tariffId`) for this line cannot be registered with the picks of
    /// the earlier lines: `urn:uitpas-checkout:problem:tariff-remaining-exceeded` (409, the
    /// tariff's `remaining` is taken by earlier lines of the same pass) or
    /// `urn:uitpas-checkout:problem:tariff-not-available` (422, not among `available`). Its
    /// `jsonPointer` is `/lines/{i}/tariffId`; the shop shows its `endUserMessage` and lets the
    /// buyer pick another tariff for this line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub choice_problem: Option<Problem>,
}

/// One pass of the cart and its status.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct QuotedPass {
    pub uitpas_number: String,
    #[serde(flatten)]
    pub status: PassStatus,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct QuotedTariff {
    #[serde(flatten)]
    pub tariff: AvailableTariff,
    /// False when the line's quantity is above `remaining`: the buyer cannot take every ticket
    /// of the line at this tariff.
    pub covers_quantity: bool,
    /// The line's total at this tariff, in euros (`price` × `quantity`).
    #[schema(value_type = f64)]
    pub total: Money,
    /// The other lines of the cart (indexes) where the same pass is offered this same tariff,
    /// when `remaining` does not cover all of them: the tariff can be taken on at most
    /// `remaining` tickets of these lines together. Absent when there is enough for every line.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub shared_with_lines: Vec<usize>,
}

/// A quote for a whole cart: the passes' status and, per line, the tariffs its pass may choose.
///
/// Each line may carry its own `uitpasNumber`; the top-level one is the default. A number used
/// twice for one event gets `duplicate-pass` on its later lines. A tariff's `remaining` counts
/// across the cart: a tariff that the same pass is offered on several lines and that does not
/// cover them all lists the others in `sharedWithLines`; with the buyer's picks (`tariffId`) the
/// line whose pick goes over it gets a `choiceProblem`. An unknown or refused top-level
/// number (or, without one, first line's number) fails the whole quote, as before; another line's
/// unknown number is that line's `problem`.
#[utoipa::path(
    post,
    path = "/v1/quotes",
    tag = "public",
    operation_id = "post-quote",
    security((), ("publicKey" = [])),
    request_body = QuoteRequest,
    responses(
        (status = 200, description = "The quote; refused lines carry a `problem`", body = Quote),
        (status = 400, description = "Malformed cart (`invalid-request`, `invalid-uitpas-number`, a line without a number and no top-level one) or a pass UiTPAS refuses", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No publishable key or checkout token (production), or an expired token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "An event the checkout token is not for, its budget of passes spent, an origin that is not the customer's, or a disabled customer", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such pass", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body is not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many requests from this address, key or token (a quote counts one per pass and one per line; with `rewards`, one more and one per reward asked about)", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "UiTPAS unavailable", body = Problem, content_type = "application/problem+json"),
        (status = 504, description = "UiTPAS did not answer in time", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn post_quote(
    State(state): State<AppState>,
    caller: Caller,
    Json(request): Json<QuoteRequest>,
) -> ApiResult<axum::Json<Quote>> {
    let default = match &request.uitpas_number {
        Some(n) => Some(uitpas_number(Some(n))?),
        None => None,
    };
    if request.lines.is_empty() || request.lines.len() > MAX_LINES {
        return Err(ApiError::invalid("/lines", format!("must have 1 to {MAX_LINES} lines")));
    }
    let mut checked: Vec<(EventId, UitpasNumber)> = Vec::with_capacity(request.lines.len());
    for (i, line) in request.lines.iter().enumerate() {
        let event = event_id(Some(&line.event_id), &format!("/lines/{i}/eventId"))?;
        if !(1..=MAX_QUANTITY).contains(&line.quantity) {
            return Err(ApiError::invalid(
                &format!("/lines/{i}/quantity"),
                format!("must be 1 to {MAX_QUANTITY}"),
            ));
        }
        let number = match (&line.uitpas_number, &default) {
            (Some(n), _) => uitpas_number(Some(n))?,
            (None, Some(d)) => d.clone(),
            (None, None) => {
                return Err(ApiError::invalid(
                    &format!("/lines/{i}/uitpasNumber"),
                    "is required when there is no top-level uitpasNumber",
                ));
            }
        };
        checked.push((event, number));
    }

    // The passes, each once: the first (top-level, else the first line's) fails the quote as
    // before; another one UiTPAS refuses becomes the problem of its lines.
    let primary = default.clone().unwrap_or_else(|| checked[0].1.clone());
    let mut numbers: Vec<UitpasNumber> = vec![primary.clone()];
    for (_, number) in &checked {
        if !numbers.contains(number) {
            numbers.push(number.clone());
        }
    }
    for (event, _) in &checked {
        caller.check_event(event.as_str())?;
    }
    for number in &numbers {
        state.public.charge_pass(&caller, number).await?;
    }
    // The request paid for one call; a quote makes one per pass and one per line, and with rewards
    // one for the balance (its checks are charged by `quote_rewards`).
    let calls = numbers.len() + checked.len() + usize::from(request.rewards);
    super::auth::charge(
        &state,
        &caller,
        u32::try_from(calls.saturating_sub(1)).unwrap_or(u32::MAX),
    )?;
    let client = &*caller.customer.client;
    let slot = caller.customer.slot;
    let passes_cache = &state.passes;
    let looked_up: Vec<_> = futures::stream::iter(numbers.clone())
        .map(|number| async move { crate::cache::pass_status(passes_cache, slot, &number, client).await })
        .buffered(CONCURRENCY)
        .collect()
        .await;
    let mut refused: HashMap<&UitpasNumber, Problem> = HashMap::new();
    let mut passes = Vec::with_capacity(numbers.len());
    let mut pass = None;
    for (number, result) in numbers.iter().zip(looked_up) {
        match result {
            Ok(status) => {
                if pass.is_none() {
                    pass = Some(status.status.clone());
                }
                passes.push(QuotedPass {
                    uitpas_number: number.as_str().to_owned(),
                    status: status.status.clone(),
                });
            }
            Err(e) if pass.is_none() => return Err(e.into()),
            Err(e) => {
                tracing::info!(error = %e, "a quote line's pass refused");
                refused.insert(number, ApiError::Upstream(e).problem());
            }
        }
    }
    let pass = pass.expect("the first pass was looked up");

    // A number used twice for one event: the later lines are flagged, UiTPAS is not asked.
    let mut first_line: HashMap<(&EventId, &UitpasNumber), usize> = HashMap::new();
    let mut local: Vec<Option<Problem>> = Vec::with_capacity(checked.len());
    for (i, (event, number)) in checked.iter().enumerate() {
        if let Some(problem) = refused.get(number) {
            local.push(Some(problem.clone()));
        } else if let Some(&j) = first_line.get(&(event, number)) {
            local.push(Some(duplicate_pass(number, j)));
        } else {
            first_line.insert((event, number), i);
            local.push(None);
        }
    }

    let picks: Vec<Option<String>> = request.lines.iter().map(|l| l.tariff_id.clone()).collect();
    let want_rewards = request.rewards;
    let rewards = async {
        match want_rewards {
            true => Some(quote_rewards(&state, &caller, &primary, &pass).await),
            false => None,
        }
    };
    let lines = futures::stream::iter(request.lines.into_iter().zip(checked.clone()).zip(local))
        .map(|((line, (event, number)), problem)| async move {
            let result = match problem {
                Some(problem) => Err(problem),
                None => client
                    .tariffs(event.as_str(), &number, line.regular_price, TariffFilter::Any)
                    .await
                    .map_err(|e| {
                        tracing::info!(error = %e, "no tariffs for a quote line");
                        ApiError::Upstream(e).problem()
                    }),
            };
            quote_line(line, &number, event.to_string(), result)
        })
        .buffered(CONCURRENCY)
        .collect::<Vec<QuoteLine>>();
    let (mut lines, rewards) = tokio::join!(lines, rewards);
    share_remaining(&mut lines, &picks);
    Ok(axum::Json(Quote {
        pass,
        passes,
        lines,
        rewards,
    }))
}

/// Counts each tariff's `remaining` across the cart. A tariff is the same on two lines when the
/// same pass is offered the same tariff id on both, for the same event for a social tariff (its
/// limit is per event) and for any event for a coupon (it is the pass's).
/// Lines sharing a tariff that does not cover all of them learn of each other
/// (`sharedWithLines`); the buyer's picks, in the order of the lines, take from what is left, and
/// the first line whose pick goes over it (or picks a tariff it is not offered) gets a
/// `choiceProblem`.
fn share_remaining(lines: &mut [QuoteLine], picks: &[Option<String>]) {
    // (pass, tariff id, event of a social tariff) → the lines offered it, and the least
    // `remaining` UiTPAS answered for it.
    type Key = (String, String, Option<String>);
    let key = |line: &QuoteLine, tariff: &AvailableTariff| -> Key {
        let event = (tariff.kind == TariffType::Socialtariff).then(|| line.event_id.clone());
        (line.uitpas_number.clone(), tariff.id.clone(), event)
    };
    let mut offered: HashMap<Key, (Vec<usize>, u32)> = HashMap::new();
    for (i, line) in lines.iter().enumerate() {
        for tariff in &line.available {
            let entry = offered
                .entry(key(line, &tariff.tariff))
                .or_insert_with(|| (Vec::new(), tariff.tariff.remaining));
            entry.0.push(i);
            entry.1 = entry.1.min(tariff.tariff.remaining);
        }
    }
    let quantity: Vec<u32> = lines.iter().map(|l| l.quantity).collect();
    for (i, line) in lines.iter_mut().enumerate() {
        let keys: Vec<Key> = line.available.iter().map(|t| key(line, &t.tariff)).collect();
        for (tariff, k) in line.available.iter_mut().zip(keys) {
            let (sharing, remaining) = &offered[&k];
            let wanted: u32 = sharing.iter().map(|&j| quantity[j]).sum();
            if sharing.len() > 1 && wanted > *remaining {
                tariff.shared_with_lines = sharing.iter().copied().filter(|&j| j != i).collect();
            }
        }
    }
    let mut taken: HashMap<Key, (u32, Vec<usize>)> = HashMap::new();
    for (i, pick) in picks.iter().enumerate() {
        let Some(id) = pick else { continue };
        let line = &mut lines[i];
        let Some(k) = line
            .available
            .iter()
            .find(|t| &t.tariff.id == id)
            .map(|t| key(line, &t.tariff))
        else {
            // A line UiTPAS refused already says why; a pick it does not offer is the shop's to fix.
            if line.problem.is_none() {
                line.choice_problem = Some(not_available(i, id));
            }
            continue;
        };
        let remaining = &offered[&k].1;
        let (used, by) = taken.entry(k).or_default();
        if *used + line.quantity > *remaining {
            line.choice_problem = Some(remaining_exceeded(i, line.quantity, *remaining - *used, by));
        } else {
            *used += line.quantity;
            by.push(i);
        }
    }
}

/// The buyer's pick of `quantity` tickets on line `line` goes over the `left` that the earlier
/// lines `by` did not take.
fn remaining_exceeded(line: usize, quantity: u32, left: u32, by: &[usize]) -> Problem {
    let earlier = if by.is_empty() {
        String::new()
    } else {
        let by = by.iter().map(usize::to_string).collect::<Vec<_>>().join(", ");
        format!(" after line(s) {by} of the cart")
    };
    let mut problem = Problem::ours(
        "tariff-remaining-exceeded",
        StatusCode::CONFLICT,
        "This tariff does not cover this line's tickets",
    )
    .with_detail(format!(
        "The pass may buy {left} more ticket(s) at this tariff{earlier}, and line {line} asks for \
         {quantity}: UiTPAS would refuse the whole registration. Pick another tariff for line \
         {line} (or for an earlier line)."
    ));
    problem.end_user_message = Some(EndUserMessage {
        nl: "Deze korting is al gebruikt voor een ander ticket in je winkelmandje. Kies voor dit \
             ticket een ander tarief."
            .into(),
        fr: Some(
            "Cette réduction est déjà utilisée pour un autre billet de votre panier. Choisissez un \
             autre tarif pour ce billet."
                .into(),
        ),
        de: None,
        en: Some(
            "This discount is already used for another ticket in your cart. Choose another tariff \
             for this ticket."
                .into(),
        ),
    });
    problem.json_pointer = Some(format!("/lines/{line}/tariffId"));
    problem
}

/// The buyer's pick on line `line` is not among the tariffs UiTPAS offers for it.
fn not_available(line: usize, id: &str) -> Problem {
    let mut problem = Problem::ours(
        "tariff-not-available",
        StatusCode::UNPROCESSABLE_ENTITY,
        "This tariff is not offered for this line",
    )
    .with_detail(format!(
        "Tariff {id:?} is not among the tariffs UiTPAS offers this line's pass for its event and price."
    ));
    problem.json_pointer = Some(format!("/lines/{line}/tariffId"));
    problem
}

/// The problem of a line whose UiTPAS number is already used for the same event on line `first`.
fn duplicate_pass(number: &UitpasNumber, first: usize) -> Problem {
    let mut problem = Problem::ours(
        "duplicate-pass",
        StatusCode::CONFLICT,
        "UiTPAS number used twice for one event",
    )
    .with_detail(format!(
        "UiTPAS number {number} is already used for this event on line {first}: one pass buys one \
         discounted ticket per event. Give each passholder's own number, or raise the quantity of \
         line {first} for a group pass."
    ));
    problem.end_user_message = Some(EndUserMessage {
        nl: "Dit UiTPAS-nummer staat al bij een ander ticket voor deze activiteit. Vul per ticket het \
             UiTPAS-nummer van de deelnemer in."
            .into(),
        fr: Some(
            "Ce numéro UiTPAS est déjà utilisé pour un autre billet de cette activité. Indiquez le \
             numéro UiTPAS de chaque participant."
                .into(),
        ),
        de: None,
        en: Some(
            "This UiTPAS number is already used for another ticket to this activity. Enter each \
             participant's own UiTPAS number."
                .into(),
        ),
    });
    problem.json_pointer = Some(format!("/lines/{first}/uitpasNumber"));
    problem
}

fn quote_line(
    line: QuoteLineRequest,
    number: &UitpasNumber,
    event_id: String,
    result: Result<crate::uitpas::Tariffs, Problem>,
) -> QuoteLine {
    let mut quoted = QuoteLine {
        uitpas_number: number.as_str().to_owned(),
        event_id,
        regular_price: line.regular_price,
        quantity: line.quantity,
        available: Vec::new(),
        end_user_message: None,
        problem: None,
        choice_problem: None,
    };
    match result {
        Ok(tariffs) => {
            quoted.available = tariffs
                .available
                .into_iter()
                .map(|tariff| QuotedTariff {
                    covers_quantity: tariff.remaining >= line.quantity,
                    total: tariff.price.times(line.quantity),
                    shared_with_lines: Vec::new(),
                    tariff,
                })
                .collect();
            quoted.end_user_message = tariffs.end_user_message;
        }
        Err(problem) => quoted.problem = Some(problem),
    }
    quoted
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(number: &str, event: &str, quantity: u32, tariffs: &[(&str, TariffType, u32)]) -> QuoteLine {
        QuoteLine {
            uitpas_number: number.into(),
            event_id: event.into(),
            regular_price: Money::from_cents(1000).unwrap(),
            quantity,
            available: tariffs
                .iter()
                .map(|&(id, kind, remaining)| QuotedTariff {
                    tariff: AvailableTariff {
                        id: id.into(),
                        name: id.into(),
                        price: Money::from_cents(100).unwrap(),
                        kind,
                        remaining,
                    },
                    covers_quantity: remaining >= quantity,
                    total: Money::from_cents(100).unwrap(),
                    shared_with_lines: Vec::new(),
                })
                .collect(),
            end_user_message: None,
            problem: None,
            choice_problem: None,
        }
    }

    const COUPON: TariffType = TariffType::Coupon;
    const SOCIAL: TariffType = TariffType::Socialtariff;

    #[test]
    fn a_single_use_coupon_offered_on_two_lines_is_shared_and_the_second_pick_refused() {
        let mut lines = vec![
            line("p", "a", 1, &[("bon", COUPON, 1)]),
            line("p", "b", 1, &[("bon", COUPON, 1)]),
        ];
        share_remaining(&mut lines, &[Some("bon".into()), Some("bon".into())]);
        assert_eq!(lines[0].available[0].shared_with_lines, [1]);
        assert_eq!(lines[1].available[0].shared_with_lines, [0]);
        assert!(lines[0].choice_problem.is_none());
        let problem = lines[1].choice_problem.as_ref().unwrap();
        assert_eq!(problem.status, 409);
        assert_eq!(problem.json_pointer.as_deref(), Some("/lines/1/tariffId"));
    }

    #[test]
    fn a_social_tariff_counts_per_event_and_enough_remaining_is_not_shared() {
        let mut lines = vec![
            line("p", "a", 1, &[("social", SOCIAL, 1)]),
            line("p", "b", 1, &[("social", SOCIAL, 1)]),
            line("q", "a", 2, &[("bon", COUPON, 5)]),
            line("q", "b", 3, &[("bon", COUPON, 5)]),
        ];
        let picks = [
            Some("social".into()),
            Some("social".into()),
            Some("bon".into()),
            Some("bon".into()),
        ];
        share_remaining(&mut lines, &picks);
        for line in &lines {
            assert!(line.available[0].shared_with_lines.is_empty());
            assert!(line.choice_problem.is_none());
        }
    }

    #[test]
    fn a_pick_above_remaining_on_its_own_line_or_not_offered_is_refused() {
        let mut lines = vec![line("p", "a", 3, &[("bon", COUPON, 2)]), line("p", "a", 1, &[])];
        share_remaining(&mut lines, &[Some("bon".into()), Some("other".into())]);
        assert_eq!(lines[0].choice_problem.as_ref().unwrap().status, 409);
        assert_eq!(lines[1].choice_problem.as_ref().unwrap().status, 422);
    }
}
