//! publiq's error model (RFC 7807 problem+json) as the sandbox answers it.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

const UITPAS: &str = "https://api.publiq.be/probs/uitpas/";
const BODY: &str = "https://api.publiq.be/probs/body/";

/// A problem as publiq writes it: `type`, `title`, `status`, `detail`, an `endUserMessage` for
/// domain errors and `schemaErrors` for invalid data, plus the extension members some
/// operations document (`jsonPointer`, `cardStatus`, `passholderId`, `passType`).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Problem {
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_user_message: Option<EndUserMessage>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub schema_errors: Vec<SchemaError>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub json_pointer: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub card_status: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub passholder_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pass_type: Option<&'static str>,
}

/// A message meant for the buyer, in Dutch (always) and English.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct EndUserMessage {
    pub nl: String,
    pub en: String,
}

impl EndUserMessage {
    pub fn new(nl: impl Into<String>, en: impl Into<String>) -> Self {
        Self {
            nl: nl.into(),
            en: en.into(),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SchemaError {
    pub json_pointer: String,
    pub error: String,
}

impl SchemaError {
    pub fn new(json_pointer: impl Into<String>, error: impl Into<String>) -> Self {
        Self {
            json_pointer: json_pointer.into(),
            error: error.into(),
        }
    }
}

impl Problem {
    pub fn new(kind: impl Into<String>, status: StatusCode, title: impl Into<String>) -> Self {
        Self {
            kind: kind.into(),
            title: title.into(),
            status: status.as_u16(),
            detail: None,
            end_user_message: None,
            schema_errors: Vec::new(),
            json_pointer: None,
            card_status: None,
            passholder_id: None,
            pass_type: None,
        }
    }

    /// A UiTPAS domain error (`…/probs/uitpas/<slug>`), which always carries an end-user message.
    pub fn uitpas(slug: &str, status: StatusCode, title: &str, message: EndUserMessage) -> Self {
        let mut p = Self::new(format!("{UITPAS}{slug}"), status, title);
        p.end_user_message = Some(message);
        p
    }

    pub fn body_missing() -> Self {
        Self::new(format!("{BODY}missing"), StatusCode::BAD_REQUEST, "Body missing")
            .detail("The request body is empty.")
    }

    pub fn body_invalid_syntax(detail: impl Into<String>) -> Self {
        Self::new(
            format!("{BODY}invalid-syntax"),
            StatusCode::BAD_REQUEST,
            "Invalid body syntax",
        )
        .detail(detail)
    }

    pub fn body_invalid_data(errors: Vec<SchemaError>) -> Self {
        let mut p = Self::new(
            format!("{BODY}invalid-data"),
            StatusCode::BAD_REQUEST,
            "Invalid body data",
        )
        .detail("The request data is invalid: see schemaErrors.");
        p.schema_errors = errors;
        p
    }

    /// A missing or malformed query parameter. publiq documents no type for it, so it is reported
    /// like invalid data, with a pointer that names the parameter.
    pub fn invalid_parameter(name: &str, error: &str) -> Self {
        Self::body_invalid_data(vec![SchemaError::new(format!("/{name}"), error)])
            .detail(format!("Query parameter {name}: {error}."))
    }

    pub fn unauthorized(detail: &str) -> Self {
        Self::new(
            "https://api.publiq.be/probs/auth/unauthorized",
            StatusCode::UNAUTHORIZED,
            "Unauthorized",
        )
        .detail(detail)
    }

    /// The caller is known but lacks the permission (`detail` says which, for the developer).
    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(
            "https://api.publiq.be/probs/auth/forbidden",
            StatusCode::FORBIDDEN,
            "Forbidden",
        )
        .detail(detail)
    }

    pub fn not_found_url() -> Self {
        Self::new(
            "https://api.publiq.be/probs/url/not-found",
            StatusCode::NOT_FOUND,
            "Not Found",
        )
        .detail("No resource exists at this URL.")
    }

    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    pub fn pointer(mut self, pointer: impl Into<String>) -> Self {
        self.json_pointer = Some(pointer.into());
        self
    }

    // --- the domain errors of the dataset, one constructor each so wording stays consistent ---

    pub fn invalid_uitpas_number() -> Self {
        Self::uitpas(
            "invalid-uitpasnumber",
            StatusCode::BAD_REQUEST,
            "Invalid UiTPAS number",
            EndUserMessage::new(
                "Dit UiTPAS-nummer is ongeldig. Controleer het nummer op je kaart.",
                "This UiTPAS number is invalid. Check the number on your card.",
            ),
        )
    }

    pub fn pass_not_found() -> Self {
        Self::uitpas(
            "pass-not-found",
            StatusCode::NOT_FOUND,
            "Pass not found",
            EndUserMessage::new(
                "We vonden geen UiTPAS met dit nummer.",
                "No UiTPAS was found with this number.",
            ),
        )
    }

    pub fn passholder_not_found() -> Self {
        Self::uitpas(
            "passholder-not-found",
            StatusCode::BAD_REQUEST,
            "Passholder not found",
            EndUserMessage::new(
                "We vonden geen pashouder met dit UiTPAS-nummer.",
                "No passholder was found with this UiTPAS number.",
            ),
        )
    }

    pub fn card_blocked() -> Self {
        Self::uitpas(
            "card-blocked",
            StatusCode::BAD_REQUEST,
            "Card blocked",
            EndUserMessage::new(
                "Deze UiTPAS is geblokkeerd. Neem contact op met een UiTPAS-balie.",
                "This UiTPAS card is blocked. Please contact a UiTPAS desk.",
            ),
        )
    }

    pub fn invalid_card_status(status: &'static str) -> Self {
        let mut p = Self::uitpas(
            "invalid-card-status",
            StatusCode::BAD_REQUEST,
            "Invalid card status",
            EndUserMessage::new(
                "Deze UiTPAS kan niet gebruikt worden: de kaart is niet actief.",
                "This UiTPAS cannot be used: the card is not active.",
            ),
        );
        p.card_status = Some(status);
        p
    }

    pub fn event_not_found() -> Self {
        Self::uitpas(
            "event-not-found",
            StatusCode::BAD_REQUEST,
            "Event not found",
            EndUserMessage::new(
                "Dit evenement is niet gekend bij UiTPAS.",
                "This event is not known to UiTPAS.",
            ),
        )
    }

    pub fn no_active_card_systems() -> Self {
        Self::uitpas(
            "passholder-no-active-cardsystems",
            StatusCode::BAD_REQUEST,
            "Passholder has no active card systems for this event",
            EndUserMessage::new(
                "Je UiTPAS geeft geen korting bij dit evenement.",
                "Your UiTPAS gives no discount for this event.",
            ),
        )
    }

    pub fn social_tariff_expired() -> Self {
        Self::uitpas(
            "social-tariff-expired",
            StatusCode::BAD_REQUEST,
            "Social tariff expired",
            EndUserMessage::new(
                "Je recht op kansentarief is verlopen. Verleng het bij een UiTPAS-balie.",
                "Your right to the social tariff has expired. Renew it at a UiTPAS desk.",
            ),
        )
    }

    pub fn maximum_reached() -> Self {
        Self::uitpas(
            "maximum-reached",
            StatusCode::BAD_REQUEST,
            "Maximum reached",
            EndUserMessage::new(
                "Je hebt het maximum aantal tickets met UiTPAS-korting voor deze periode bereikt.",
                "You have reached the maximum number of UiTPAS discounted tickets for this period.",
            ),
        )
    }

    pub fn invalid_coupon() -> Self {
        Self::uitpas(
            "invalid-coupon",
            StatusCode::BAD_REQUEST,
            "Invalid coupon",
            EndUserMessage::new(
                "Deze bon is niet (meer) geldig.",
                "This coupon is not (or no longer) valid.",
            ),
        )
    }

    pub fn ticket_sale_not_found() -> Self {
        Self::uitpas(
            "ticket-sale-not-found",
            StatusCode::NOT_FOUND,
            "Ticket sale not found",
            EndUserMessage::new(
                "Deze ticketverkoop werd niet gevonden.",
                "This ticket sale was not found.",
            ),
        )
    }

    pub fn checkin_not_allowed(message: EndUserMessage) -> Self {
        Self::uitpas(
            "checkin-not-allowed",
            StatusCode::BAD_REQUEST,
            "Check-in not allowed",
            message,
        )
    }

    pub fn social_tariff_not_available() -> Self {
        Self::uitpas(
            "social-tariff-not-available",
            StatusCode::BAD_REQUEST,
            "Social tariff not available",
            EndUserMessage::new(
                "Voor dit evenement is er geen kansentarief.",
                "There is no social tariff for this event.",
            ),
        )
    }
}

impl Problem {
    // --- rewards (their operations spell some types differently) ---

    /// `invalid-uitpas-number`, as the rewards operations spell it (the ticket-sale operations
    /// say `invalid-uitpasnumber`).
    pub fn invalid_uitpas_number_of_rewards() -> Self {
        let mut p = Self::invalid_uitpas_number();
        p.kind = format!("{UITPAS}invalid-uitpas-number");
        p
    }

    /// `reward-not-found`: 404 for a reward in the path, 400 for one in a body.
    pub fn reward_not_found(status: StatusCode) -> Self {
        Self::uitpas(
            "reward-not-found",
            status,
            "Reward not found",
            EndUserMessage::new("Dit voordeel werd niet gevonden.", "This reward was not found."),
        )
    }

    pub fn organizer_not_found() -> Self {
        Self::uitpas(
            "organizer-not-found",
            StatusCode::BAD_REQUEST,
            "Organizer not found",
            EndUserMessage::new(
                "Deze organisator is niet gekend bij UiTPAS.",
                "This organizer is not known to UiTPAS.",
            ),
        )
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut res = (status, axum::Json(self)).into_response();
        res.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        res
    }
}
