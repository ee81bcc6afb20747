//! The operators' abandon of a redemption's parked work (`/console/work`), through the rewards'
//! service ([`crate::rewards::ops`]): what it does is said on the confirmation page.

use uuid::Uuid;

use super::{Page, internal, see_other};
use crate::http::AppState;
use crate::rewards::Abandoned;

/// Abandons a redemption's parked work, once confirmed: back to the work list, saying what came of it.
pub async fn abandon(state: &AppState, subject: Uuid, operator: &str) -> Page {
    let outcome = state.rewards.abandon(subject).await.map_err(internal)?;
    let done = match &outcome {
        Abandoned::Ended(_) => "abandoned",
        Abandoned::Settling(_) => "abandon-settling",
        Abandoned::Already(_) | Abandoned::HoldEnded(_) => "abandon-refused",
        Abandoned::NotParked | Abandoned::NotFound => "nothing",
    };
    tracing::info!(%subject, done, operator = %operator, "console: abandon of a redemption");
    Ok(see_other(&format!("/console/work?done={done}")))
}
