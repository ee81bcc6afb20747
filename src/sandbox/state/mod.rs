//! The sandbox's memory: issued tokens and what their clients may do, events, ticket sales,
//! check-ins, redeemed rewards. The rules of UiTPAS that depend on it (permissions, tariffs and
//! what remains of them, all-or-nothing registration, cancellation, check-ins, rewards) are here
//! as plain functions, so that the HTTP layer only translates.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::Serialize;

mod checkins;
mod rewards;
mod tariffs;

pub use rewards::{Calendar, REWARDS, Redemption, Refusal, RewardData, RewardType, Volume, reward};

use super::clients::{Clients, Permission};
use super::dataset::{self, CardStatus, EventData, PassData, SocialStatus};
use super::problem::Problem;
use crate::domain::UitpasNumber;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TariffType {
    Socialtariff,
    Coupon,
}

/// A tariff as UiTPAS returns it, with its price in cents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tariff {
    pub id: String,
    pub name: String,
    pub price_cents: i64,
    pub kind: TariffType,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Available {
    pub tariff: Tariff,
    pub remaining: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SaleStatus {
    Active,
    Cancelled,
}

#[derive(Debug, Clone)]
pub struct Sale {
    /// Its place among all sales, in the order they were made (a store keeps the order with it).
    pub seq: i64,
    pub id: String,
    pub event_id: String,
    pub uitpas_number: String,
    pub tariff: Tariff,
    pub regular_price_cents: i64,
    pub regular_price_label: Option<String>,
    pub status: SaleStatus,
    pub created_at: DateTime<Utc>,
}

/// What the tariff type filter of `GET /tariffs` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TariffFilter {
    Any,
    SocialTariff,
    Coupon,
}

/// The filters of `GET /ticket-sales`; those absent (or empty) do not filter.
#[derive(Debug, Default)]
pub struct SalesFilter<'a> {
    pub event_id: Option<&'a str>,
    pub passholder_id: Option<&'a str>,
    /// The organizers of the sales' events.
    pub organizers: &'a [String],
    /// Part of the event's title, in any case.
    pub event_title: Option<&'a str>,
}

/// One line of a `POST /ticket-sales` batch, already checked for shape.
#[derive(Debug, Clone)]
pub struct SaleRequest {
    pub uitpas_number: String,
    pub event_id: String,
    pub regular_price_cents: i64,
    pub regular_price_label: Option<String>,
    pub tariff_id: String,
}

#[derive(Debug, Clone)]
pub struct Checkin {
    pub id: String,
    pub event_id: String,
    pub uitpas_number: String,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Default)]
pub struct World {
    /// Issued tokens: when each expires and the client it was issued to.
    tokens: HashMap<String, (Instant, String)>,
    /// What every client may do.
    pub clients: Clients,
    events: HashMap<String, EventData>,
    sales: Vec<Sale>,
    sale_index: HashMap<String, usize>,
    /// Sales per UiTPAS number, to count what remains of a limit without scanning every sale.
    sales_by_pass: HashMap<String, Vec<usize>>,
    sales_by_event: HashMap<String, Vec<usize>>,
    checkins: Vec<Checkin>,
    /// Changes of the dataset's points per UiTPAS number: check-ins, redemptions, balances set.
    points: HashMap<String, i64>,
    /// Every reward redeemed, oldest first, cancelled ones included.
    redemptions: Vec<Redemption>,
    /// The Entry API's documents of events written through it (`GET /events/{id}`), by id.
    documents: HashMap<String, serde_json::Value>,
}

impl World {
    pub fn new() -> Self {
        let mut world = World::default();
        for event in dataset::builtin_events() {
            world.events.insert(event.id.clone(), event);
        }
        world
    }

    // --- tokens ---

    pub fn issue_token(&mut self, ttl: Duration, client_id: &str) -> String {
        let now = Instant::now();
        // Forget expired tokens now and then, so a long load test does not grow the map for ever.
        if self.tokens.len() > 1024 {
            self.tokens.retain(|_, (expiry, _)| *expiry > now);
        }
        let token = format!("sbx.{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple());
        self.tokens.insert(token.clone(), (now + ttl, client_id.to_owned()));
        token
    }

    /// The client a token was issued to, while it is valid.
    pub fn token_client(&self, token: &str) -> Option<&str> {
        self.tokens
            .get(token)
            .filter(|(expiry, _)| *expiry > Instant::now())
            .map(|(_, client)| client.as_str())
    }

    // --- permissions ---

    /// Refuses (403) a client without `permission` for the organizer of an event. An event the
    /// sandbox does not know, without an organizer, or whose organizer takes no part in UiTPAS
    /// has no organizer to hold a permission for: it passes, and the operation says the rest.
    pub fn require_for_event(&self, client: &str, permission: Permission, event_id: &str) -> Result<(), Problem> {
        let Some(organizer) = self.event(event_id).and_then(|e| e.organizer.as_deref()) else {
            return Ok(());
        };
        self.require_for_organizer(client, permission, organizer).map_err(|p| {
            p.detail(format!(
                "Client {client} has no permission {} for organizer {organizer}, the organizer of event {event_id}.",
                permission.name()
            ))
        })
    }

    /// Refuses (403) a client without `permission` for a UiTPAS organizer.
    pub fn require_for_organizer(&self, client: &str, permission: Permission, organizer: &str) -> Result<(), Problem> {
        if dataset::organizer_card_systems(organizer).is_empty() || self.clients.allows(client, permission, organizer) {
            return Ok(());
        }
        Err(Problem::forbidden(format!(
            "Client {client} has no permission {} for organizer {organizer}.",
            permission.name()
        )))
    }

    /// Refuses (403) a client that holds `permission` for no organizer at all.
    pub fn require_anywhere(&self, client: &str, permission: Permission) -> Result<(), Problem> {
        if self.clients.allows_anywhere(client, permission) {
            return Ok(());
        }
        Err(Problem::forbidden(format!(
            "Client {client} has no permission {} for any organizer.",
            permission.name()
        )))
    }

    // --- events ---

    pub fn add_event(&mut self, event: EventData) {
        self.events.insert(event.id.clone(), event);
    }

    pub fn event(&self, id: &str) -> Option<&EventData> {
        self.events.get(id)
    }

    /// The Entry API documents of events (see [`super::entry`]), by id: kept as written.
    pub fn event_documents(&mut self) -> &mut HashMap<String, serde_json::Value> {
        &mut self.documents
    }

    // --- passes ---

    /// The pass as a tariff or sale sees it: well-formed, known, registered and not blocked.
    fn usable_pass(&self, number: &str, now: DateTime<Utc>) -> Result<PassData, Problem> {
        let number = strict_number(number).ok_or_else(Problem::invalid_uitpas_number)?;
        let pass = dataset::pass(number.as_str(), now).ok_or_else(Problem::passholder_not_found)?;
        if pass.holder.is_none() {
            return Err(Problem::passholder_not_found().detail("This card is not registered to a passholder."));
        }
        if pass.card == CardStatus::Blocked {
            return Err(Problem::invalid_card_status("BLOCKED"));
        }
        Ok(pass)
    }

    pub fn points(&self, pass: &PassData) -> i64 {
        pass.holder.as_ref().map_or(0, |h| h.points) + self.points.get(&pass.number).copied().unwrap_or(0)
    }

    // --- ticket sales ---

    /// `POST /ticket-sales`: registers every line or none. The first refused line decides the
    /// answer, with `jsonPointer` pointing at it.
    pub fn register(&mut self, lines: &[SaleRequest], now: DateTime<Utc>) -> Result<Vec<Sale>, Problem> {
        // Sales of this batch not yet stored, per (pass, tariff, event scope): they count
        // against `remaining` like stored ones.
        let mut pending: HashMap<(String, String, Option<String>), u32> = HashMap::new();
        let mut accepted = Vec::with_capacity(lines.len());
        for (i, line) in lines.iter().enumerate() {
            let at = |p: Problem| p.pointer(format!("/{i}"));
            let (available, _) = self
                .tariffs(
                    &line.uitpas_number,
                    &line.event_id,
                    line.regular_price_cents,
                    TariffFilter::Any,
                    now,
                )
                .map_err(at)?;
            let Some(found) = available.into_iter().find(|a| a.tariff.id == line.tariff_id) else {
                return Err(at(self.why_not_available(line, now)));
            };
            let scope = (found.tariff.kind == TariffType::Socialtariff).then(|| line.event_id.clone());
            let key = (line.uitpas_number.clone(), found.tariff.id.clone(), scope);
            let taken = pending.entry(key).or_insert(0);
            if *taken >= found.remaining {
                let problem = if found.tariff.kind == TariffType::Coupon && found.remaining <= 1 {
                    Problem::invalid_coupon().detail("This coupon can be used only once.")
                } else {
                    Problem::maximum_reached()
                };
                return Err(at(problem));
            }
            *taken += 1;
            accepted.push(Sale {
                seq: i64::try_from(self.sales.len() + accepted.len()).unwrap_or(i64::MAX),
                id: uuid::Uuid::new_v4().to_string(),
                event_id: line.event_id.clone(),
                uitpas_number: line.uitpas_number.clone(),
                tariff: found.tariff,
                regular_price_cents: line.regular_price_cents,
                regular_price_label: line.regular_price_label.clone(),
                status: SaleStatus::Active,
                created_at: now,
            });
        }
        for sale in &accepted {
            self.push_sale(sale.clone());
        }
        Ok(accepted)
    }

    fn push_sale(&mut self, sale: Sale) {
        let i = self.sales.len();
        self.sale_index.insert(sale.id.clone(), i);
        self.sales_by_pass
            .entry(sale.uitpas_number.clone())
            .or_default()
            .push(i);
        self.sales_by_event.entry(sale.event_id.clone()).or_default().push(i);
        self.sales.push(sale);
    }

    /// Puts back what a store kept (see [`super::store`]): events created, sales oldest first,
    /// check-ins. Each check-in earned its point again.
    pub fn restore(&mut self, events: Vec<EventData>, sales: Vec<Sale>, checkins: Vec<Checkin>) {
        for event in events {
            self.add_event(event);
        }
        for mut sale in sales {
            // The place in this world: the stored order, without the gaps a failed write leaves.
            sale.seq = i64::try_from(self.sales.len()).unwrap_or(i64::MAX);
            self.push_sale(sale);
        }
        for checkin in checkins {
            *self.points.entry(checkin.uitpas_number.clone()).or_insert(0) += 1;
            self.checkins.push(checkin);
        }
    }

    /// Why a tariff id is not among the available tariffs of a line.
    fn why_not_available(&self, line: &SaleRequest, now: DateTime<Utc>) -> Problem {
        let pass = dataset::pass(&line.uitpas_number, now);
        let is_social_id = dataset::CARD_SYSTEMS
            .iter()
            .any(|cs| cs.social_tariff_id == line.tariff_id);
        let coupon = pass
            .as_ref()
            .and_then(|p| p.coupons.iter().find(|c| c.id == line.tariff_id));
        match (pass.as_ref(), coupon) {
            (Some(p), _) if is_social_id && p.social == SocialStatus::Expired => Problem::social_tariff_expired(),
            // A coupon for several sales (a group's) has reached its limit for the period.
            (_, Some(c)) if c.limit.max > 1 => Problem::maximum_reached(),
            (_, Some(_)) => Problem::invalid_coupon().detail("This coupon is used up or not valid for this event."),
            _ if line.tariff_id.starts_with("bon-") || line.tariff_id.starts_with("groepsbon-") => {
                Problem::invalid_coupon().detail("This coupon does not belong to this pass.")
            }
            _ => Problem::body_invalid_data(vec![super::problem::SchemaError::new(
                "/tariff/id",
                "this tariff is not available for this pass, event and price",
            )])
            .detail(format!(
                "Tariff {} is not available for this pass and event.",
                line.tariff_id
            )),
        }
    }

    pub fn sale(&self, id: &str) -> Option<&Sale> {
        self.sale_index.get(id).map(|&i| &self.sales[i])
    }

    /// `DELETE /ticket-sales/{id}`: an active sale becomes cancelled (and is returned); anything
    /// else is not found.
    pub fn cancel(&mut self, id: &str) -> Result<Sale, Problem> {
        match self.sale_index.get(id).map(|&i| &mut self.sales[i]) {
            Some(sale) if sale.status == SaleStatus::Active => {
                sale.status = SaleStatus::Cancelled;
                Ok(sale.clone())
            }
            _ => Err(Problem::ticket_sale_not_found()),
        }
    }

    /// `GET /ticket-sales`: the active sales that match every filter given, oldest first, with
    /// the total and one page.
    pub fn search_sales(&self, filter: &SalesFilter<'_>, start: usize, limit: usize) -> (usize, Vec<&Sale>) {
        let now = Utc::now();
        let title = filter.event_title.map(str::to_lowercase);
        let candidates: Box<dyn Iterator<Item = &Sale>> = match (filter.event_id, filter.passholder_id) {
            (Some(event_id), _) => Box::new(
                self.sales_by_event
                    .get(event_id)
                    .into_iter()
                    .flatten()
                    .map(|&i| &self.sales[i]),
            ),
            // The sales of the passholder's cards, in the order they were made, however many
            // other sales there are.
            (None, Some(passholder_id)) => {
                let mut indexes: Vec<usize> = dataset::numbers_of_holder(passholder_id, now)
                    .iter()
                    .filter_map(|n| self.sales_by_pass.get(n))
                    .flatten()
                    .copied()
                    .collect();
                indexes.sort_unstable();
                Box::new(indexes.into_iter().map(|i| &self.sales[i]))
            }
            (None, None) => Box::new(self.sales.iter()),
        };
        let found: Vec<&Sale> = candidates
            .filter(|s| s.status == SaleStatus::Active)
            .filter(|s| {
                filter
                    .passholder_id
                    .is_none_or(|p| sale_holder_id(&s.uitpas_number, now).as_deref() == Some(p))
            })
            .filter(|s| {
                let event = self.event(&s.event_id);
                let organizer_ok = filter.organizers.is_empty()
                    || event
                        .and_then(|e| e.organizer.as_ref())
                        .is_some_and(|o| filter.organizers.contains(o));
                let title_ok = title
                    .as_deref()
                    .is_none_or(|t| event.is_some_and(|e| e.name.to_lowercase().contains(t)));
                organizer_ok && title_ok
            })
            .collect();
        let total = found.len();
        (total, found.into_iter().skip(start).take(limit).collect())
    }

    pub fn all_sales(&self) -> &[Sale] {
        &self.sales
    }
}

/// The id of the passholder of a UiTPAS number, when it has one.
pub fn holder_id(number: &str, now: DateTime<Utc>) -> Option<String> {
    dataset::pass(number, now).and_then(|p| p.holder).map(|h| h.id)
}

/// The passholder a ticket sale of a UiTPAS number carries: none for a group pass (publiq: a
/// sale's "passholder can be empty in some cases, e.g. for group passes"), so a search by
/// passholder never finds a group pass's sales, although `GET /passes` answers an id for it.
fn sale_holder_id(number: &str, now: DateTime<Utc>) -> Option<String> {
    dataset::pass(number, now)
        .filter(|p| !p.group)
        .and_then(|p| p.holder)
        .map(|h| h.id)
}

/// A UiTPAS number exactly as UiTPAS takes it: 13 digits and nothing else, a valid check digit.
pub fn strict_number(raw: &str) -> Option<UitpasNumber> {
    (raw.len() == UitpasNumber::LEN && raw.bytes().all(|b| b.is_ascii_digit()))
        .then(|| UitpasNumber::parse(raw).ok())
        .flatten()
}

/// Converts a price in euros, as UiTPAS sends it, to cents; refuses what is not a price.
pub fn cents(euros: f64) -> Option<i64> {
    crate::domain::Money::from_euros(euros)
        .ok()
        .map(crate::domain::Money::cents)
}

/// Converts cents back to the JSON number UiTPAS writes.
pub fn euros(cents: i64) -> f64 {
    cents as f64 / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limited_sale(at: DateTime<Utc>, world: &mut World) -> Result<Vec<Sale>, Problem> {
        let line = SaleRequest {
            uitpas_number: "0900000067513".to_owned(),
            event_id: dataset::LIMITED_EVENT.to_owned(),
            regular_price_cents: 1000,
            regular_price_label: None,
            tariff_id: dataset::GENT.social_tariff_id.to_owned(),
        };
        world.register(&[line], at)
    }

    #[test]
    fn the_limited_event_allows_one_social_tariff_sale_per_week() {
        let mut world = World::new();
        let monday = Utc::now() - chrono::Duration::days(30);
        limited_sale(monday, &mut world).expect("the first sale");
        let refused = limited_sale(monday + chrono::Duration::days(6), &mut world).expect_err("a second within a week");
        assert!(refused.kind.ends_with("/maximum-reached"), "{refused:?}");
        limited_sale(monday + chrono::Duration::days(8), &mut world).expect("a week later, again one");
    }

    #[test]
    fn a_deleted_checkin_gives_its_point_back_and_frees_the_day() {
        let mut world = World::new();
        let now = Utc::now();
        let (checkin, _) = world
            .checkin("0900000067513", dataset::TEST_EVENT, now)
            .expect("checked in");
        assert!(
            world
                .checkin_status("0900000067513", dataset::TEST_EVENT, now)
                .expect("known")
                .is_some()
        );
        world.delete_checkin(&checkin.id).expect("deleted");
        assert_eq!(world.points.get("0900000067513"), Some(&0));
        assert_eq!(
            world
                .checkin_status("0900000067513", dataset::TEST_EVENT, now)
                .expect("known"),
            None
        );
        assert!(world.delete_checkin(&checkin.id).is_err());
    }

    #[test]
    fn prices_convert_to_cents_only_when_they_are_prices() {
        assert_eq!(cents(12.5), Some(1250));
        assert_eq!(cents(0.1 + 0.2), Some(30));
        assert_eq!(cents(0.0), Some(0));
        assert_eq!(cents(-1.0), None);
        assert_eq!(cents(1.234), None);
        assert_eq!(cents(f64::NAN), None);
    }
}
