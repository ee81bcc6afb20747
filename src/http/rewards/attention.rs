//! A redemption that needs a person (`needs-attention`: UiTPAS refused the service's credentials
//! or permission, or refused its cancellation): retried once the cause is fixed, or abandoned —
//! the same shape as a registration's and a ticket sale's ([`crate::http::attention`]). What
//! abandoning does: [`crate::rewards::ops`].

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::redemptions::{RedemptionView, owned_redemption};
use crate::db::retry_on_dead_connection;
use crate::http::AppState;
use crate::http::attention::not_parked;
use crate::http::auth::Caller;
use crate::http::extract::uuid_path;
use crate::http::problem::{ApiError, ApiResult, Problem};
use crate::http::responses::{DatabaseUnavailable, ShopKeyRefused};
use crate::rewards::{Abandoned, Redemption};

async fn view(state: &AppState, id: uuid::Uuid) -> ApiResult<RedemptionView> {
    retry_on_dead_connection(|| state.rewards.redemption(id))
        .await?
        .map(RedemptionView::from)
        .ok_or(ApiError::NotFound)
}

fn conflict(kind: &str, title: &str, detail: &str, redemption: &Redemption) -> Response {
    let mut problem = Problem::ours(kind, StatusCode::CONFLICT, title).with_detail(detail);
    problem.redemption_id = Some(redemption.id);
    problem.into_response()
}

/// Retries a redemption that needs attention, once the cause is fixed (publiq granted
/// `REWARDS_REDEEM` again, say): due again now, the worker settles it — looking first at the
/// pass's redemptions, so that it is redeemed once — and the webhook `reward_redemption.redeemed`,
/// `.rejected` or `.cancelled` tells how it ended.
#[utoipa::path(
    post,
    path = "/v1/reward-redemptions/{id}/retry",
    tag = "shop",
    operation_id = "retry-reward-redemption",
    security(("shopKey" = [])),
    params(("id" = Uuid, Path, description = "The redemption id (ours, not UiTPAS's)")),
    responses(
        (status = 202, description = "Due again now: the worker settles it (status pending, or cancelling for a cancellation)", body = RedemptionView),
        ShopKeyRefused,
        (status = 404, description = "No such redemption", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "It does not need attention (`not-needing-attention`)", body = Problem, content_type = "application/problem+json"),
        DatabaseUnavailable,
    )
)]
pub async fn retry_redemption(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let id = uuid_path(&id)?;
    owned_redemption(&state, &caller, id).await?;
    if !retry_on_dead_connection(|| state.rewards.retry(id)).await? {
        return Ok(not_parked());
    }
    Ok((StatusCode::ACCEPTED, axum::Json(view(&state, id).await?)).into_response())
}

/// Abandons a redemption that needs attention.
///
/// Its redemption waited for a person: when nothing of it can be at UiTPAS (every send was
/// answered), **200** `rejected` with the problem that stopped it, no call made. When a send may
/// have committed (its answer was lost), **202** `pending`: it is never sent again, the worker
/// looks for it among the pass's redemptions and cancels what it finds (`cancelled`, the points
/// come back), or records it `rejected` once no send can still commit; the webhook
/// `reward_redemption.cancelled` or `.rejected` tells which. Its cancellation waited for a person:
/// **200**, the cancellation is dropped and it stays `redeemed` (webhook
/// `reward_redemption.redeemed`). **409** `not-needing-attention` otherwise; `abandoned-unsettled`
/// when it was abandoned before and UiTPAS cannot be read to settle it (retry once the cause is
/// fixed); `hold-ended` for the cancellation of a released or expired hold (retry it: the points
/// must come back).
#[utoipa::path(
    post,
    path = "/v1/reward-redemptions/{id}/abandon",
    tag = "shop",
    operation_id = "abandon-reward-redemption",
    security(("shopKey" = [])),
    params(("id" = Uuid, Path, description = "The redemption id (ours, not UiTPAS's)")),
    responses(
        (status = 200, description = "Given up: rejected (nothing of it at UiTPAS, nothing spent), or redeemed (its cancellation dropped)", body = RedemptionView),
        (status = 202, description = "Given up, but UiTPAS may hold it (a lost answer): pending while the worker cancels what it finds; a webhook tells how it ended", body = RedemptionView),
        ShopKeyRefused,
        (status = 404, description = "No such redemption", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`not-needing-attention`, `abandoned-unsettled` or `hold-ended`", body = Problem, content_type = "application/problem+json"),
        DatabaseUnavailable,
    )
)]
pub async fn abandon_redemption(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let id = uuid_path(&id)?;
    owned_redemption(&state, &caller, id).await?;
    Ok(match retry_on_dead_connection(|| state.rewards.abandon(id)).await? {
        Abandoned::Ended(r) => axum::Json(RedemptionView::from(*r)).into_response(),
        Abandoned::Settling(r) => (StatusCode::ACCEPTED, axum::Json(RedemptionView::from(*r))).into_response(),
        Abandoned::Already(r) => conflict(
            "abandoned-unsettled",
            "Abandoned already, not settled yet",
            "This redemption was abandoned while UiTPAS may hold it, and UiTPAS cannot be read to settle it \
             (see problem of the redemption). Retry it once the cause is fixed: it is never sent again, what \
             UiTPAS holds of it is cancelled.",
            &r,
        ),
        Abandoned::HoldEnded(r) => conflict(
            "hold-ended",
            "The hold ended: its cancellation cannot be given up",
            "The hold was released or expired: the points must come back. Retry the cancellation once the \
             cause is fixed.",
            &r,
        ),
        Abandoned::NotParked => not_parked(),
        Abandoned::NotFound => return Err(ApiError::NotFound),
    })
}
