//! Webhooks: every outcome that settles after the HTTP answer is told to the shop's backend.
//!
//! An event is stored with [`Webhooks::enqueue`] in the same transaction as the outcome it
//! reports, together with a `deliver_webhook` job of the outbox, so none is lost. The worker
//! delivers it at least once (`POST WEBHOOK_URL`), with capped backoff, from slots of its own so a
//! failing or slow receiver never holds up registrations. The body is
//! `{id, type, createdAt, data}`, where `data` is the resource (registration, ticket sale or
//! activity) as it stands when delivered; the shop de-duplicates by `id`.
//!
//! **Signature** (in the style of Stripe's): the header
//! `Uitpas-Checkout-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>` signs `"<t>.<body>"` with
//! each secret of `WEBHOOK_SECRET` (one `v1` per secret, so a receiver keeps working while the
//! secret is rotated). A receiver recomputes it with its secret, compares in constant time, and
//! refuses a timestamp older than a few minutes.
//!
//! **Targets** ([`target`]): outside development only public `https` receivers, checked again at
//! each delivery on the address connected to. What a customer reads of a delivery
//! (`GET /v1/webhook-deliveries`) is the receiver's status code, or that it was not reached:
//! never its body nor the connection error, which would tell an open port from a closed one.

pub mod deliver;
pub mod target;
pub mod verify;

use std::time::Duration;

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde::Serialize;
use sha2::Sha256;
use sqlx::{PgConnection, PgPool};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::customers::{Customers, DEFAULT_CUSTOMER};
use crate::secrets::Secret;
use crate::text_enum::text_enum;

/// The header carrying the signature.
pub const SIGNATURE_HEADER: &str = "uitpas-checkout-signature";

/// What happened: the event's `type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    RegistrationRegistered,
    RegistrationRejected,
    RegistrationNeedsAttention,
    HoldConfirmed,
    HoldReleased,
    HoldExpired,
    TicketSaleCancelled,
    TicketSaleNeedsAttention,
    /// UiTPAS held a sale with this ticket sale's marker besides the one recorded (a double), or
    /// one of an order that ended without it: it was cancelled at UiTPAS.
    TicketSaleStrayCancelled,
    ActivityCreated,
    /// UiTdatabank has the activity's latest version (a change, a status, a deletion) after a 202.
    ActivityUpdated,
    /// UiTdatabank refused the activity's latest version after a 202.
    ActivityRejected,
    /// UiTPAS confirmed a reward redemption after a 202.
    RedemptionRedeemed,
    /// UiTPAS refused a reward redemption after a 202: nothing was spent.
    RedemptionRejected,
    /// A reward redemption or its cancellation cannot go on without a person.
    RedemptionNeedsAttention,
    /// A reward redemption was cancelled at UiTPAS after a 202: the points came back.
    RedemptionCancelled,
}

text_enum!(EventType {
    RegistrationRegistered = "registration.registered",
    RegistrationRejected = "registration.rejected",
    RegistrationNeedsAttention = "registration.needs_attention",
    HoldConfirmed = "hold.confirmed",
    HoldReleased = "hold.released",
    HoldExpired = "hold.expired",
    TicketSaleCancelled = "ticket_sale.cancelled",
    TicketSaleNeedsAttention = "ticket_sale.needs_attention",
    TicketSaleStrayCancelled = "ticket_sale.stray_cancelled",
    ActivityCreated = "activity.created",
    ActivityUpdated = "activity.updated",
    ActivityRejected = "activity.rejected",
    RedemptionRedeemed = "reward_redemption.redeemed",
    RedemptionRejected = "reward_redemption.rejected",
    RedemptionNeedsAttention = "reward_redemption.needs_attention",
    RedemptionCancelled = "reward_redemption.cancelled",
});

impl EventType {
    /// What the event's `data` is.
    pub fn resource(self) -> Resource {
        match self {
            EventType::TicketSaleCancelled
            | EventType::TicketSaleNeedsAttention
            | EventType::TicketSaleStrayCancelled => Resource::TicketSale,
            EventType::ActivityCreated | EventType::ActivityUpdated | EventType::ActivityRejected => Resource::Activity,
            EventType::RedemptionRedeemed
            | EventType::RedemptionRejected
            | EventType::RedemptionNeedsAttention
            | EventType::RedemptionCancelled => Resource::Redemption,
            _ => Resource::Registration,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    Registration,
    TicketSale,
    Activity,
    Redemption,
}

/// A stored event, to deliver.
#[derive(Debug, Clone)]
pub struct Event {
    pub id: Uuid,
    pub customer_id: Uuid,
    pub kind: EventType,
    pub subject_id: Uuid,
    pub created_at: DateTime<Utc>,
    /// How many deliveries were tried so far (what the delivery list shows).
    pub attempts: i32,
}

/// Where and how events are delivered: to the receiver of the customer whose outcome it is.
/// Cheap to clone; nothing is stored while no customer has a receiver.
#[derive(Clone)]
pub struct Webhooks {
    db: PgPool,
    customers: Customers,
    http: reqwest::Client,
    allow_private: bool,
}

/// What a customer reads when its receiver was not reached: the same for a refused connection,
/// a reset, a TLS failure and a timeout, so the delivery list is no port scanner.
pub const NOT_REACHED: &str = "the receiver could not be reached or did not answer in time";
/// What a customer reads when the target is not allowed (see [`target`]).
pub const TARGET_REFUSED: &str = "the receiver's URL is not allowed: it must be https and its host's addresses public";

impl Webhooks {
    /// `allow_private`: whether deliveries may go to private targets (WEBHOOK_ALLOW_PRIVATE_TARGETS).
    pub fn new(db: PgPool, customers: Customers, timeout: Duration, allow_private: bool) -> anyhow::Result<Self> {
        let mut http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(3)))
            .redirect(reqwest::redirect::Policy::none())
            // A proxy would resolve the name itself, past the check below.
            .no_proxy()
            .user_agent(concat!("uitpas-checkout/", env!("CARGO_PKG_VERSION"), " webhooks"));
        if !allow_private {
            // Connects only to the public addresses of a name: checked where it is connected.
            http = http.dns_resolver(std::sync::Arc::new(target::PublicOnly));
        }
        Ok(Self {
            db,
            customers,
            http: http.build()?,
            allow_private,
        })
    }

    /// Whether some customer receives webhooks.
    pub fn enabled(&self) -> bool {
        self.customers.all().iter().any(|c| c.webhook.is_some())
    }

    /// Stores an event in `tx`, with its delivery job due now, for the customer whose
    /// registration, ticket sale or activity `subject_id` is; nothing when no customer receives
    /// webhooks.
    pub async fn enqueue(&self, tx: &mut PgConnection, kind: EventType, subject_id: Uuid) -> sqlx::Result<()> {
        if !self.enabled() {
            return Ok(());
        }
        sqlx::query!(
            r#"WITH event AS (
                   INSERT INTO webhook_events (id, type, subject_id, customer_id)
                   VALUES ($1, $2, $3, coalesce(
                       (SELECT customer_id FROM registrations WHERE id = $3),
                       (SELECT r.customer_id FROM ticket_sales t JOIN registrations r ON r.id = t.registration_id
                        WHERE t.id = $3),
                       (SELECT customer_id FROM activities WHERE id = $3),
                       (SELECT customer_id FROM reward_redemptions WHERE id = $3),
                       $4))
                   RETURNING id
               )
               SELECT outbox_enqueue($5, id) FROM event"#,
            Uuid::new_v4(),
            kind.as_str(),
            subject_id,
            DEFAULT_CUSTOMER,
            deliver::KIND.as_str()
        )
        .fetch_one(tx)
        .await?;
        Ok(())
    }

    /// The event a delivery job is about.
    pub async fn event(&self, id: Uuid) -> sqlx::Result<Option<Event>> {
        let row = sqlx::query!(
            r#"SELECT id, customer_id, type AS "kind: EventType", subject_id, created_at, attempts FROM webhook_events
               WHERE id = $1 AND delivered_at IS NULL"#,
            id
        )
        .fetch_optional(&self.db)
        .await?;
        Ok(row.map(|r| Event {
            id: r.id,
            customer_id: r.customer_id,
            kind: r.kind,
            subject_id: r.subject_id,
            created_at: r.created_at,
            attempts: r.attempts,
        }))
    }
}

/// `t=<timestamp>,v1=<signature>[,v1=<signature>…]`, one signature per secret.
pub fn signature(secrets: &[Secret], timestamp: i64, body: &[u8]) -> String {
    let mut header = format!("t={timestamp}");
    for secret in secrets {
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.expose().as_bytes()) else {
            continue;
        };
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        header.push_str(",v1=");
        for byte in mac.finalize().into_bytes() {
            header.push_str(&format!("{byte:02x}"));
        }
    }
    header
}

/// One event and its deliveries, as `GET /v1/webhook-deliveries` lists them.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Delivery {
    /// The event id (`Webhook-Id`).
    pub id: Uuid,
    #[serde(rename = "type")]
    #[schema(example = "registration.registered")]
    pub kind: String,
    pub subject_id: Uuid,
    pub created_at: DateTime<Utc>,
    /// `delivered`, `pending` (not tried yet), `failing` (tried, not delivered yet: retried) or
    /// `failed` (given up after `WEBHOOK_MAX_ATTEMPTS` attempts: retried only when asked to, with
    /// `POST /v1/webhook-deliveries/{id}/retry` or from the console).
    #[schema(example = "delivered")]
    pub status: String,
    pub attempts: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_status: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_attempt_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivered_at: Option<DateTime<Utc>>,
}

/// Events, newest first, of one customer (`None`: all, for the console), optionally only those
/// not delivered yet; and how many match.
pub async fn deliveries(
    pool: &PgPool,
    customer_id: Option<Uuid>,
    undelivered: bool,
    start: i64,
    limit: i64,
) -> sqlx::Result<(i64, Vec<Delivery>)> {
    let total = sqlx::query_scalar!(
        r#"SELECT count(*) AS "count!" FROM webhook_events
           WHERE ($2::uuid IS NULL OR customer_id = $2) AND (NOT $1 OR delivered_at IS NULL)"#,
        undelivered,
        customer_id
    )
    .fetch_one(pool)
    .await?;
    let rows = sqlx::query_as!(
        DeliveryRow,
        r#"SELECT id, type AS kind, subject_id, created_at, attempts, last_status, last_error, last_attempt_at,
                  delivered_at, given_up_at
           FROM webhook_events WHERE ($4::uuid IS NULL OR customer_id = $4) AND (NOT $1 OR delivered_at IS NULL)
           ORDER BY created_at DESC, id OFFSET $2 LIMIT $3"#,
        undelivered,
        start,
        limit,
        customer_id
    )
    .fetch_all(pool)
    .await?;
    Ok((total, rows.into_iter().map(Delivery::from).collect()))
}

/// One event of a customer, as `GET /v1/webhook-deliveries` lists it.
pub async fn delivery(pool: &PgPool, customer_id: Uuid, id: Uuid) -> sqlx::Result<Option<Delivery>> {
    let row = sqlx::query_as!(
        DeliveryRow,
        r#"SELECT id, type AS kind, subject_id, created_at, attempts, last_status, last_error, last_attempt_at,
                  delivered_at, given_up_at
           FROM webhook_events WHERE id = $1 AND customer_id = $2"#,
        id,
        customer_id
    )
    .fetch_optional(pool)
    .await?;
    Ok(row.map(Delivery::from))
}

/// A stored event and how its delivery went.
struct DeliveryRow {
    id: Uuid,
    kind: String,
    subject_id: Uuid,
    created_at: DateTime<Utc>,
    attempts: i32,
    last_status: Option<i32>,
    last_error: Option<String>,
    last_attempt_at: Option<DateTime<Utc>>,
    delivered_at: Option<DateTime<Utc>>,
    given_up_at: Option<DateTime<Utc>>,
}

impl From<DeliveryRow> for Delivery {
    fn from(r: DeliveryRow) -> Self {
        Delivery {
            status: status(r.delivered_at, r.given_up_at, r.attempts).to_owned(),
            id: r.id,
            kind: r.kind,
            subject_id: r.subject_id,
            created_at: r.created_at,
            attempts: r.attempts,
            last_status: r.last_status,
            last_error: r.last_error,
            last_attempt_at: r.last_attempt_at,
            delivered_at: r.delivered_at,
        }
    }
}

/// Takes a given-up delivery of a customer's event up again (due now): `false` when the event
/// is not the customer's or was not given up.
pub async fn retry_given_up(pool: &PgPool, customer_id: Uuid, id: Uuid) -> sqlx::Result<bool> {
    let mut tx = crate::db::begin(pool).await?;
    let given_up = sqlx::query_scalar!(
        r#"UPDATE webhook_events SET given_up_at = NULL
           WHERE id = $1 AND customer_id = $2 AND given_up_at IS NOT NULL AND delivered_at IS NULL
           RETURNING id"#,
        id,
        customer_id
    )
    .fetch_optional(&mut *tx)
    .await?;
    if given_up.is_none() || !crate::outbox::Outbox::retry_parked_in(&mut tx, deliver::KIND, id).await? {
        return Ok(false);
    }
    tx.commit().await?;
    Ok(true)
}

fn status(delivered_at: Option<DateTime<Utc>>, given_up_at: Option<DateTime<Utc>>, attempts: i32) -> &'static str {
    match (delivered_at, given_up_at, attempts) {
        (Some(_), _, _) => "delivered",
        (None, Some(_), _) => "failed",
        (None, None, 0) => "pending",
        (None, None, _) => "failing",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_stripes_scheme_with_one_v1_per_secret() {
        // Checked with openssl:
        // printf '1700000000.{"a":1}' | openssl dgst -sha256 -hmac 'whsec_0123456789abcdef'
        let secrets = [
            Secret::new("whsec_0123456789abcdef"),
            Secret::new("whsec_fedcba9876543210"),
        ];
        let header = signature(&secrets, 1_700_000_000, br#"{"a":1}"#);
        let parts: Vec<&str> = header.split(',').collect();
        assert_eq!(parts[0], "t=1700000000");
        assert_eq!(parts.len(), 3);
        assert_eq!(
            parts[1],
            "v1=9f5e37cdc7ea587c7c02062d93283cad000d66a831b2a1676418696db47ed6c2"
        );
        assert_ne!(parts[1], parts[2], "each secret signs");
        assert_eq!(
            signature(&secrets[..1], 1_700_000_000, br#"{"a":1}"#),
            parts[..2].join(",")
        );
    }

    #[test]
    fn event_types_read_back_as_written() {
        for t in EventType::VALUES {
            assert_eq!(t.as_str().parse(), Ok(*t));
        }
    }
}
