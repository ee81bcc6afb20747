//! Redemptions held before payment: confirmed after payment, released when it fails (the points
//! come back).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::redemptions::{RedemptionView, owned_redemption};
use crate::db::retry_on_dead_connection;
use crate::http::AppState;
use crate::http::auth::Caller;
use crate::http::extract::uuid_path;
use crate::http::problem::{ApiError, ApiResult, Problem};
use crate::http::responses::{DatabaseUnavailable, ShopKeyRefused};
use crate::ledger::HoldState;
use crate::rewards::{HoldOutcome, Redemption};

fn answer(outcome: HoldOutcome) -> ApiResult<Response> {
    Ok(match outcome {
        HoldOutcome::Done(redemption) => axum::Json(RedemptionView::from(*redemption)).into_response(),
        HoldOutcome::NotFound => return Err(ApiError::NotFound),
        HoldOutcome::NotAHold => Problem::ours("not-a-hold", StatusCode::CONFLICT, "Not a hold")
            .with_detail(
                "This redemption was not made as a hold (no `hold` in its request): there is nothing to confirm or \
                 release. Cancel it (DELETE /v1/reward-redemptions/{id}) to give the points back.",
            )
            .into_response(),
        HoldOutcome::Ended(redemption) => ended(&redemption),
    })
}

/// The hold ended otherwise before: 409, saying how.
fn ended(redemption: &Redemption) -> Response {
    let state = redemption.hold.as_ref().map_or(HoldState::Held, |h| h.state);
    let (slug, title, detail) = match state {
        HoldState::Expired => (
            "hold-expired",
            "The hold expired",
            "The hold was not confirmed in time: the redemption is cancelled at UiTPAS and the points came back. \
             Redeem again with a new Idempotency-Key if the passholder still wants the reward.",
        ),
        HoldState::Released => (
            "hold-released",
            "The hold was released",
            "The hold was released: the redemption is cancelled at UiTPAS and the points came back.",
        ),
        HoldState::Confirmed => (
            "hold-confirmed",
            "The hold was confirmed",
            "The hold was confirmed after payment: it is an ordinary redemption now. Cancel it \
             (DELETE /v1/reward-redemptions/{id}) to give the points back.",
        ),
        HoldState::Held => ("hold-held", "The hold is still held", "Confirm or release it."),
    };
    let mut problem = Problem::ours(slug, StatusCode::CONFLICT, title).with_detail(detail);
    problem.redemption_id = Some(redemption.id);
    problem.into_response()
}

/// Confirms a redemption held before payment, after payment: it stays redeemed.
///
/// 200 confirmed (again: the same). 409 `hold-expired` (it was cancelled: redeem again with a new
/// key) or `hold-released`; `not-a-hold`. A confirm racing the expiry has exactly one winner.
#[utoipa::path(
    post,
    path = "/v1/reward-redemptions/{id}/confirm",
    tag = "shop",
    operation_id = "confirm-reward-redemption",
    security(("shopKey" = [])),
    params(("id" = Uuid, Path, description = "The redemption id (ours, not UiTPAS's)")),
    responses(
        (status = 200, description = "Confirmed: an ordinary redemption now", body = RedemptionView),
        ShopKeyRefused,
        (status = 404, description = "No such redemption", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`hold-expired`, `hold-released` or `not-a-hold`", body = Problem, content_type = "application/problem+json"),
        DatabaseUnavailable,
    )
)]
pub async fn confirm_redemption(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let id = uuid_path(&id)?;
    owned_redemption(&state, &caller, id).await?;
    answer(retry_on_dead_connection(|| state.rewards.confirm(id)).await?)
}

/// Releases a redemption held before payment (payment failed or abandoned): it is cancelled at
/// UiTPAS and the points come back.
///
/// 200 released (again: the same): `released`, cancelled at UiTPAS now or by the worker (a
/// redemption still pending is cancelled once it settles, or never made). 409 `hold-confirmed`
/// (cancel it instead) or `not-a-hold`.
#[utoipa::path(
    post,
    path = "/v1/reward-redemptions/{id}/release",
    tag = "shop",
    operation_id = "release-reward-redemption",
    security(("shopKey" = [])),
    params(("id" = Uuid, Path, description = "The redemption id (ours, not UiTPAS's)")),
    responses(
        (status = 200, description = "Released: cancelled at UiTPAS, now or by the worker", body = RedemptionView),
        ShopKeyRefused,
        (status = 404, description = "No such redemption", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`hold-confirmed`, `hold-expired` or `not-a-hold`", body = Problem, content_type = "application/problem+json"),
        DatabaseUnavailable,
    )
)]
pub async fn release_redemption(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let id = uuid_path(&id)?;
    owned_redemption(&state, &caller, id).await?;
    answer(retry_on_dead_connection(|| state.rewards.release(id)).await?)
}
