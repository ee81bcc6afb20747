//! `POST /v1/quotes`: one answer for a whole cart. The pass is looked up once (cached), the
//! lines' tariffs are asked concurrently (bounded), and a line that UiTPAS refuses carries its
//! problem while the other lines are still answered.

use axum::extract::State;
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::AppState;
use super::extract::Json;
use super::problem::{ApiError, ApiResult, Problem};
use super::tariffs::{event_id, uitpas_number};
use crate::cache::PassStatus;
use crate::domain::Money;
use crate::uitpas::{AvailableTariff, EndUserMessage, TariffFilter, UpstreamError};

/// At most this many lines in one quote, and this many UiTPAS calls at once for one quote.
const MAX_LINES: usize = 50;
const CONCURRENCY: usize = 4;
const MAX_QUANTITY: u32 = 100;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct QuoteRequest {
    #[schema(example = "0900000067513", pattern = "^[0-9]{13}$")]
    pub uitpas_number: String,
    #[schema(min_items = 1, max_items = 50)]
    pub lines: Vec<QuoteLineRequest>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct QuoteLineRequest {
    #[schema(example = "5a0967f9-cc06-4c3c-9206-30481a767434", format = Uuid)]
    pub event_id: String,
    /// The regular price in euros.
    #[schema(value_type = f64, example = 10.0, minimum = 0)]
    pub regular_price: Money,
    /// How many tickets (1 to 100); default 1.
    #[serde(default = "one")]
    #[schema(default = 1, minimum = 1, maximum = 100)]
    pub quantity: u32,
}

fn one() -> u32 {
    1
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Quote {
    /// The pass's social-tariff status and the messages that must be shown.
    pub pass: PassStatus,
    /// One entry per requested line, in order.
    pub lines: Vec<QuoteLine>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct QuoteLine {
    pub event_id: String,
    #[schema(value_type = f64)]
    pub regular_price: Money,
    pub quantity: u32,
    /// The tariffs the pass may choose for this line (empty when refused).
    pub available: Vec<QuotedTariff>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_user_message: Option<EndUserMessage>,
    /// Why UiTPAS gave no tariffs for this line (an unknown event: status 400
    /// `https://api.publiq.be/probs/uitpas/event-not-found`, as for `GET /v1/tariffs`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<Problem>,
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
}

/// A quote for a whole cart: the pass status and, per line, the tariffs the pass may choose.
#[utoipa::path(
    post,
    path = "/v1/quotes",
    tag = "public",
    operation_id = "post-quote",
    request_body = QuoteRequest,
    responses(
        (status = 200, description = "The quote; refused lines carry a `problem`", body = Quote),
        (status = 400, description = "Malformed cart (`invalid-request`, `invalid-uitpas-number`) or a pass UiTPAS refuses", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such pass", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body is not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many requests from this address", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "UiTPAS unavailable", body = Problem, content_type = "application/problem+json"),
        (status = 504, description = "UiTPAS did not answer in time", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn post_quote(
    State(state): State<AppState>,
    Json(request): Json<QuoteRequest>,
) -> ApiResult<axum::Json<Quote>> {
    let number = uitpas_number(Some(&request.uitpas_number))?;
    if request.lines.is_empty() || request.lines.len() > MAX_LINES {
        return Err(ApiError::invalid("/lines", format!("must have 1 to {MAX_LINES} lines")));
    }
    let mut events = Vec::with_capacity(request.lines.len());
    for (i, line) in request.lines.iter().enumerate() {
        events.push(event_id(Some(&line.event_id), &format!("/lines/{i}/eventId"))?);
        if !(1..=MAX_QUANTITY).contains(&line.quantity) {
            return Err(ApiError::invalid(
                &format!("/lines/{i}/quantity"),
                format!("must be 1 to {MAX_QUANTITY}"),
            ));
        }
    }
    let pass = crate::cache::pass_status(&state.passes, &number, &state.uitpas).await?;
    let client = &state.uitpas;
    let number = &number;
    let lines: Vec<QuoteLine> = futures::stream::iter(request.lines.into_iter().zip(events))
        .map(|(line, event)| async move {
            let result = client
                .tariffs(event.as_str(), number, line.regular_price, TariffFilter::Any)
                .await;
            quote_line(line, event.to_string(), result)
        })
        .buffered(CONCURRENCY)
        .collect()
        .await;
    Ok(axum::Json(Quote {
        pass: pass.status.clone(),
        lines,
    }))
}

fn quote_line(
    line: QuoteLineRequest,
    event_id: String,
    result: Result<crate::uitpas::Tariffs, UpstreamError>,
) -> QuoteLine {
    let mut quoted = QuoteLine {
        event_id,
        regular_price: line.regular_price,
        quantity: line.quantity,
        available: Vec::new(),
        end_user_message: None,
        problem: None,
    };
    match result {
        Ok(tariffs) => {
            quoted.available = tariffs
                .available
                .into_iter()
                .map(|tariff| QuotedTariff {
                    covers_quantity: tariff.remaining >= line.quantity,
                    total: tariff.price.times(line.quantity),
                    tariff,
                })
                .collect();
            quoted.end_user_message = tariffs.end_user_message;
        }
        Err(e) => {
            tracing::info!(error = %e, "no tariffs for a quote line");
            quoted.problem = Some(ApiError::Upstream(e).problem());
        }
    }
    quoted
}
