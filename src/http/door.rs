//! At the door (issue 16), for the shop's staff through the shop backend (shop key): a pass looked
//! up by what the card or the passholder shows (UiTPAS number, chip number, INSZ number), and
//! whether a ticket can be checked in now. Undoing a check-in is part of cancelling the sale
//! (`DELETE /v1/ticket-sales/{id}`, see [`crate::ledger::flow`]).
//!
//! An identifier is personal data, an INSZ number most of all: it is checked here, sent to UiTPAS
//! in the query of `GET /passes?identifier=` and forgotten. It is never logged (request spans
//! carry the matched route only, upstream errors no URL), stored or cached, and never echoed in
//! a problem. The answer is the public pass view plus the pass's UiTPAS number: never the INSZ
//! number, a name, points or a postal code.
//!
//! Both endpoints answer a pass's status, so both count against the customer's door budget
//! (`DOOR_RATE_LIMIT` a minute, [`super::ratelimit::CustomerLimit`]): a door scans a person every few
//! seconds, an attacker with a leaked key would try thousands of INSZ numbers.

use std::fmt;

use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::AppState;
use super::auth::Caller;
use super::extract::{Query, uuid_path};
use super::problem::{ApiError, ApiResult, Problem};
use super::ratelimit::CustomerLimit;
use super::ticket_sales::owned_sale;
use crate::db::retry_on_dead_connection;
use crate::domain::{UitpasNumber, UitpasNumberError};
use crate::http::responses::{DatabaseUnavailable, ShopKeyRefused};
use crate::ledger::flow::CheckinStatusOutcome;
use crate::uitpas::{EndUserMessage, PassMessage, PassType, SchemaError, SocialTariff};

/// What identifies a pass at the door, checked before UiTPAS is asked.
#[derive(Clone, PartialEq, Eq)]
pub enum PassIdentifier {
    /// 13 digits, the last a Luhn check digit (printed on the card).
    UitpasNumber(UitpasNumber),
    /// The card's chip (NFC reader): 14 hexadecimal digits, a 7-byte UID, upper case.
    Chip(String),
    /// The passholder's INSZ (national register or BIS) number: 11 digits, the last two a mod-97
    /// check of the first nine (with a 2 in front for those born in 2000 or later).
    Insz(String),
}

/// Why a string identifies no pass. Never holds the value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum IdentifierError {
    #[error("is required")]
    Missing,
    #[error("{0}")]
    UitpasNumber(UitpasNumberError),
    #[error("the check digits of this INSZ number are wrong (mistyped?)")]
    InszChecksum,
    #[error("must be a UiTPAS number (13 digits), a chip number (14 hexadecimal digits) or an INSZ number (11 digits)")]
    Unknown,
}

impl PassIdentifier {
    /// Parses what the staff typed or a reader gave; spaces, dots and dashes (`85.07.30-033.28`)
    /// are ignored.
    pub fn parse(input: &str) -> Result<Self, IdentifierError> {
        let compact: String = input
            .chars()
            .filter(|c| !(c.is_whitespace() || matches!(c, '.' | '-')))
            .collect();
        if compact.is_empty() {
            return Err(IdentifierError::Missing);
        }
        let digits = compact.bytes().all(|b| b.is_ascii_digit());
        match compact.len() {
            UitpasNumber::LEN if digits => UitpasNumber::parse(&compact)
                .map(Self::UitpasNumber)
                .map_err(IdentifierError::UitpasNumber),
            11 if digits => {
                if insz_valid(&compact) {
                    Ok(Self::Insz(compact))
                } else {
                    Err(IdentifierError::InszChecksum)
                }
            }
            14 if compact.bytes().all(|b| b.is_ascii_hexdigit()) => Ok(Self::Chip(compact.to_ascii_uppercase())),
            _ => Err(IdentifierError::Unknown),
        }
    }

    /// The value sent to UiTPAS.
    pub fn as_str(&self) -> &str {
        match self {
            Self::UitpasNumber(n) => n.as_str(),
            Self::Chip(c) | Self::Insz(c) => c,
        }
    }

    /// What kind of identifier it is (safe to log).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::UitpasNumber(_) => "uitpas-number",
            Self::Chip(_) => "chip-number",
            Self::Insz(_) => "insz-number",
        }
    }
}

/// Only the kind: the value is personal data.
impl fmt::Debug for PassIdentifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PassIdentifier({})", self.kind())
    }
}

/// Takes one lookup from the caller's door budget; `Some`: the 429 to answer instead.
fn door_budget(state: &AppState, caller: &Caller) -> Option<Response> {
    CustomerLimit::refusal(state.door_limit.as_ref(), caller.customer.id)
}

/// The INSZ check: 97 minus the first nine digits modulo 97 (for a birth in 2000 or later, of
/// those digits with a 2 in front) equals the last two.
fn insz_valid(digits: &str) -> bool {
    let (Ok(base), Ok(check)) = (digits[..9].parse::<u64>(), digits[9..].parse::<u64>()) else {
        return false;
    };
    [base, 2_000_000_000 + base].iter().any(|b| 97 - b % 97 == check)
}

fn invalid_identifier(why: IdentifierError) -> ApiError {
    let mut problem = Problem::ours(
        "invalid-pass-identifier",
        StatusCode::BAD_REQUEST,
        "Invalid pass identifier",
    )
    .with_detail(format!("identifier: {why}. Nothing was sent to UiTPAS."));
    problem.schema_errors = vec![SchemaError {
        json_pointer: "/identifier".into(),
        error: why.to_string(),
    }];
    problem.end_user_message = Some(EndUserMessage {
        nl: "Dit nummer klopt niet. Geef het UiTPAS-nummer (13 cijfers), het chipnummer of het rijksregisternummer (11 cijfers).".into(),
        fr: Some("Ce numéro n'est pas correct. Donnez le numéro UiTPAS (13 chiffres), le numéro de puce ou le numéro de registre national (11 chiffres).".into()),
        de: None,
        en: Some("This number is not right. Give the UiTPAS number (13 digits), the chip number or the national register number (11 digits).".into()),
    });
    ApiError::Problem(Box::new(problem))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DoorPassQuery {
    /// A UiTPAS number (13 digits), the card's chip number (14 hexadecimal digits) or the
    /// passholder's INSZ number (11 digits); spaces, dots and dashes are ignored.
    #[param(example = "0900000067513")]
    pub identifier: String,
}

/// A pass as the door sees it: the public status and the pass's UiTPAS number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DoorPass {
    /// The pass's UiTPAS number, also when it was found by chip or INSZ number (to find its
    /// ticket sales: `GET /v1/ticket-sales?uitpasNumber=`).
    #[schema(example = "0900000067513")]
    pub uitpas_number: String,
    pub pass_type: PassType,
    pub social_tariff: SocialTariff,
    /// Messages UiTPAS says must be shown to the passholder.
    pub messages: Vec<PassMessage>,
}

/// A pass by UiTPAS number, chip number or INSZ number, at the door.
///
/// The identifier is checked first (a UiTPAS number's Luhn digit, an INSZ number's mod-97 check
/// digits, a chip number's form): a mistyped one is answered 400 without asking UiTPAS. Then
/// UiTPAS is asked (`GET /passes?identifier=`), every time: the door needs the pass as it is now
/// (a card blocked or a social tariff renewed at the counter an hour ago), and an identifier is
/// never kept, also not as a cache key. The answer holds no name, INSZ number, points or postal
/// code; UiTPAS's refusals (e.g. `pass-not-found`, `invalid-card-status` for a blocked card) keep
/// their `type` and `endUserMessage`.
#[utoipa::path(
    get,
    path = "/v1/door/passes",
    tag = "shop",
    operation_id = "get-door-pass",
    security(("shopKey" = [])),
    params(DoorPassQuery),
    responses(
        (status = 200, description = "The pass", body = DoorPass),
        (status = 400, description = "Not a UiTPAS, chip or INSZ number, or a check digit is wrong (`invalid-pass-identifier`, nothing was sent to UiTPAS); a missing or unknown query parameter (`invalid-request`); or a card UiTPAS refuses (e.g. `https://api.publiq.be/probs/uitpas/invalid-card-status`)", body = Problem, content_type = "application/problem+json"),
        ShopKeyRefused,
        (status = 403, description = "The customer is disabled, or UiTPAS does not let its client read passes (`https://api.publiq.be/probs/auth/forbidden`)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such pass (`https://api.publiq.be/probs/uitpas/pass-not-found`)", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "The customer's door lookups are over `DOOR_RATE_LIMIT` a minute (`rate-limited`); retry after `Retry-After` seconds", body = Problem, content_type = "application/problem+json", headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 502, description = "UiTPAS unavailable", body = Problem, content_type = "application/problem+json"),
        (status = 504, description = "UiTPAS did not answer in time", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get_door_pass(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<DoorPassQuery>,
) -> ApiResult<Response> {
    let identifier = PassIdentifier::parse(&query.identifier).map_err(invalid_identifier)?;
    // Only lookups that reach UiTPAS count: a typo at the door costs nothing.
    if let Some(refused) = door_budget(&state, &caller) {
        return Ok(refused);
    }
    tracing::debug!(kind = identifier.kind(), "pass looked up at the door");
    let found = caller.customer.client.pass_by_identifier(identifier.as_str()).await?;
    let pass = DoorPass {
        uitpas_number: found.uitpas_number,
        pass_type: found.pass.pass_type,
        social_tariff: found.pass.social_tariff,
        messages: found.pass.messages,
    };
    Ok(([(header::CACHE_CONTROL, "no-store")], axum::Json(pass)).into_response())
}

/// Whether a ticket can be checked in now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TicketCheckinStatus {
    /// Whether `PATCH /v1/ticket-sales/{id}` with `{"checkedIn": true}` would be accepted now.
    pub allowed: bool,
    /// UiTPAS's reason when not allowed (e.g. the event has not started): show it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_user_message: Option<EndUserMessage>,
    /// This ticket is checked in already (shown a second time at the door?).
    pub checked_in: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checked_in_at: Option<DateTime<Utc>>,
}

/// Whether a ticket sale can be checked in now, and if not, UiTPAS's message why.
///
/// As `PATCH /v1/ticket-sales/{id}` with `{"checkedIn": true}` would go: UiTPAS is asked
/// (`GET /checkin-status` for the sale's pass and event) and its answer passed on, with its
/// `endUserMessage` when a check-in is not allowed (outside the event's hours, already today, …).
/// UiTPAS checks a passholder in once per event and day, so when this ticket, or another ticket
/// of the same pass at the same event, was checked in today, UiTPAS is not asked: the ticket
/// shares that check-in and `allowed` is true; `checkedIn` tells whether it was this ticket.
#[utoipa::path(
    get,
    path = "/v1/ticket-sales/{id}/checkin-status",
    tag = "shop",
    operation_id = "get-ticket-sale-checkin-status",
    security(("shopKey" = [])),
    params(("id" = Uuid, Path, description = "The ticket sale id (ours, not UiTPAS's)")),
    responses(
        (status = 200, description = "Whether it can be checked in now", body = TicketCheckinStatus),
        ShopKeyRefused,
        (status = 403, description = "UiTPAS does not let the customer's client check in at this event's organizer (`https://api.publiq.be/probs/auth/forbidden`)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such ticket sale; or UiTPAS knows its pass or event no more (`https://api.publiq.be/probs/uitpas/passholder-not-found`, `event-not-found`)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not registered (pending, rejected, cancelling or cancelled): it cannot be checked in", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "The customer's door lookups are over `DOOR_RATE_LIMIT` a minute (`rate-limited`); retry after `Retry-After` seconds", body = Problem, content_type = "application/problem+json", headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 502, description = "UiTPAS unavailable", body = Problem, content_type = "application/problem+json"),
        DatabaseUnavailable,
        (status = 504, description = "UiTPAS did not answer in time", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get_checkin_status(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let id = uuid_path(&id)?;
    owned_sale(&state, &caller, id).await?;
    if let Some(refused) = door_budget(&state, &caller) {
        return Ok(refused);
    }
    Ok(
        match retry_on_dead_connection(|| state.ledger.checkin_status(id)).await? {
            CheckinStatusOutcome::Known {
                allowed,
                end_user_message,
                checked_in_at,
            } => axum::Json(TicketCheckinStatus {
                allowed,
                end_user_message,
                checked_in: checked_in_at.is_some(),
                checked_in_at,
            })
            .into_response(),
            CheckinStatusOutcome::NotFound => return Err(ApiError::NotFound),
            CheckinStatusOutcome::NotRegistered(status) => {
                Problem::ours("not-registered", StatusCode::CONFLICT, "Ticket sale not registered")
                    .with_detail(format!(
                        "Only a registered ticket sale can be checked in; this one is {}.",
                        status.as_str()
                    ))
                    .into_response()
            }
            CheckinStatusOutcome::Refused(problem) => (*problem).into_response(),
            CheckinStatusOutcome::Unavailable(e) => return Err(ApiError::Upstream(e)),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_uitpas_number_chip_number_or_insz_number_is_told_apart() {
        let parsed = |s: &str| PassIdentifier::parse(s).map(|p| (p.kind(), p.as_str().to_owned()));
        assert_eq!(parsed("0900000067513"), Ok(("uitpas-number", "0900000067513".into())));
        assert_eq!(
            parsed(" 0900 0000 6751 3 "),
            Ok(("uitpas-number", "0900000067513".into()))
        );
        assert_eq!(parsed("04ed6acacf6180"), Ok(("chip-number", "04ED6ACACF6180".into())));
        assert_eq!(parsed("04784CDAEE3880"), Ok(("chip-number", "04784CDAEE3880".into())));
        assert_eq!(parsed("83030201540"), Ok(("insz-number", "83030201540".into())));
        assert_eq!(
            parsed("83.03.02-015.40"),
            Ok(("insz-number", "83030201540".into())),
            "written with dots and a dash"
        );
    }

    #[test]
    fn every_insz_number_of_publiqs_dataset_passes_the_check_born_before_or_after_2000() {
        for insz in [
            "83030201540",
            "36051380284",
            "66010101785",
            "08091860684",
            "71030360442",
            "17010180147",
            "80010101392",
            "10010105762",
            "80010170282",
            "20010170215",
            "91063061055",
            "15021760024",
        ] {
            assert!(insz_valid(insz), "{insz}");
        }
    }

    #[test]
    fn mistyped_or_unknown_identifiers_are_refused_without_their_value() {
        use IdentifierError::*;
        let error = |s: &str| PassIdentifier::parse(s).unwrap_err();
        assert_eq!(error("0900000067514"), UitpasNumber(UitpasNumberError::Checksum));
        assert_eq!(error("83030201541"), InszChecksum);
        assert_eq!(error("38030201540"), InszChecksum, "two digits swapped");
        assert_eq!(error(""), Missing);
        assert_eq!(error(" . - "), Missing);
        assert_eq!(error("090000006751"), Unknown, "12 digits");
        assert_eq!(error("04784CDAEE388"), Unknown, "13 hexadecimal digits");
        assert_eq!(error("04784CDAEE3880AB"), Unknown);
        assert_eq!(error("04784CDAEE38G0"), Unknown, "not hexadecimal");
        assert_eq!(error("0900000067513; DROP"), Unknown);
        let insz = PassIdentifier::parse("83030201540").unwrap();
        assert_eq!(format!("{insz:?}"), "PassIdentifier(insz-number)");
    }
}
