//! Shop endpoints of holds before payment: confirm after payment, release when it fails.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use uuid::Uuid;

use super::AppState;
use super::auth::Caller;
use super::extract::uuid_path;
use super::problem::{ApiError, ApiResult, Problem};
use super::registrations::rewards;
use super::views::Registration;
use crate::http::responses::ShopKeyRefused;
use crate::ledger::HoldState;
use crate::ledger::holds::HoldOutcome;

fn not_a_hold(id: Uuid) -> Response {
    let mut problem = Problem::ours("not-a-hold", StatusCode::CONFLICT, "Not a hold")
        .with_detail("This registration was made after payment (no `hold` in its request): there is nothing to confirm or release. Cancel its ticket sales to refund.");
    problem.registration_id = Some(id);
    problem.into_response()
}

fn conflict(id: Uuid, state: HoldState) -> Response {
    let (slug, title, detail) = match state {
        HoldState::Expired => (
            "hold-expired",
            "The hold expired",
            "The hold was not confirmed in time: its sales are cancelled at UiTPAS. To sell at the discounted price, register the order again (with a new Idempotency-Key, as a new hold or after payment); otherwise refund the buyer or charge the regular price.",
        ),
        HoldState::Released => (
            "hold-released",
            "The hold was released",
            "The hold was released: its sales are cancelled at UiTPAS. Register the order again (with a new Idempotency-Key) to sell at the discounted price.",
        ),
        HoldState::Confirmed => (
            "hold-confirmed",
            "The hold was confirmed",
            "The hold was confirmed after payment: it is an ordinary registration now. To refund, cancel its ticket sales (DELETE /v1/ticket-sales/{id}).",
        ),
        HoldState::Held => ("hold-held", "The hold is still held", "Confirm or release it."),
    };
    let mut problem = Problem::ours(slug, StatusCode::CONFLICT, title).with_detail(detail);
    problem.registration_id = Some(id);
    problem.into_response()
}

/// The answer, with the order's rewards confirmed or released as its hold was (`confirm`).
async fn answer(state: &AppState, id: Uuid, outcome: HoldOutcome, confirm: bool) -> ApiResult<Response> {
    Ok(match outcome {
        HoldOutcome::Done(registration) => {
            let customer_id = registration.customer_id;
            let mut view = Registration::from(*registration);
            view.rewards = rewards::end_holds(state, customer_id, id, confirm).await?;
            axum::Json(view).into_response()
        }
        HoldOutcome::NotFound => return Err(ApiError::NotFound),
        HoldOutcome::NotAHold => not_a_hold(id),
        HoldOutcome::Conflict(state, _) => conflict(id, state),
    })
}

#[utoipa::path(
    post,
    path = "/v1/registrations/{id}/confirm",
    tag = "shop",
    operation_id = "confirm-hold",
    security(("shopKey" = [])),
    params(("id" = Uuid, Path, description = "The registration id")),
    responses(
        (status = 200, description = "Confirmed (now or before): status `registered`, or `pending` while UiTPAS has not confirmed the sales yet; the rewards redeemed with the order are confirmed with it (`rewards`)", body = Registration),
        ShopKeyRefused,
        (status = 404, description = "No such registration", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`hold-expired` (not confirmed in time: its sales are cancelled; register again), `hold-released`, or `not-a-hold`", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn confirm_hold(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let id = uuid_path(&id)?;
    super::registrations::owned_registration(&state, &caller, id).await?;
    answer(&state, id, state.ledger.confirm_hold(id).await?, true).await
}

#[utoipa::path(
    post,
    path = "/v1/registrations/{id}/release",
    tag = "shop",
    operation_id = "release-hold",
    security(("shopKey" = [])),
    params(("id" = Uuid, Path, description = "The registration id")),
    responses(
        (status = 200, description = "Released (now or before), or expired: its sales are cancelled at UiTPAS (`cancelling` while UiTPAS has not confirmed it), and the rewards redeemed with the order are released (their points come back)", body = Registration),
        ShopKeyRefused,
        (status = 404, description = "No such registration", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`hold-confirmed` (cancel its ticket sales instead), or `not-a-hold`", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn release_hold(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let id = uuid_path(&id)?;
    super::registrations::owned_registration(&state, &caller, id).await?;
    answer(&state, id, state.ledger.release_hold(id).await?, false).await
}
