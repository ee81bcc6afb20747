//! The sandbox's memory: issued tokens, events, ticket sales, check-ins. The rules of UiTPAS that
//! depend on it (tariffs and what remains of them, all-or-nothing registration, cancellation,
//! check-ins) are here as plain functions, so that the HTTP layer only translates.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::dataset::{self, CardStatus, EventData, PassData, Period, SocialStatus};
use super::problem::{EndUserMessage, Problem};
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
    tokens: HashMap<String, Instant>,
    events: HashMap<String, EventData>,
    sales: Vec<Sale>,
    sale_index: HashMap<String, usize>,
    /// Sales per UiTPAS number, to count what remains of a limit without scanning every sale.
    sales_by_pass: HashMap<String, Vec<usize>>,
    sales_by_event: HashMap<String, Vec<usize>>,
    checkins: Vec<Checkin>,
    points: HashMap<String, i64>,
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

    pub fn issue_token(&mut self, ttl: Duration) -> String {
        let now = Instant::now();
        // Forget expired tokens now and then, so a long load test does not grow the map for ever.
        if self.tokens.len() > 1024 {
            self.tokens.retain(|_, expiry| *expiry > now);
        }
        let token = format!("sbx.{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple());
        self.tokens.insert(token.clone(), now + ttl);
        token
    }

    pub fn token_valid(&self, token: &str) -> bool {
        self.tokens.get(token).is_some_and(|expiry| *expiry > Instant::now())
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

    // --- tariffs ---

    /// Counts the active sales of a pass at a tariff since a moment, optionally on one event.
    fn used(&self, number: &str, tariff_id: &str, event_id: Option<&str>, since: DateTime<Utc>) -> u32 {
        let Some(indexes) = self.sales_by_pass.get(number) else {
            return 0;
        };
        let count = indexes
            .iter()
            .map(|&i| &self.sales[i])
            .filter(|s| {
                s.status == SaleStatus::Active
                    && s.tariff.id == tariff_id
                    && s.created_at >= since
                    && event_id.is_none_or(|e| s.event_id == e)
            })
            .count();
        u32::try_from(count).unwrap_or(u32::MAX)
    }

    /// `GET /tariffs`: what a pass may pay for an event at a regular price.
    pub fn tariffs(
        &self,
        number: &str,
        event_id: &str,
        regular_cents: i64,
        filter: TariffFilter,
        now: DateTime<Utc>,
    ) -> Result<(Vec<Available>, Option<EndUserMessage>), Problem> {
        let pass = self.usable_pass(number, now)?;
        let event = self.event(event_id).ok_or_else(Problem::event_not_found)?;
        if event.card_systems.is_empty() {
            return Ok((
                Vec::new(),
                Some(EndUserMessage::new(
                    "Dit evenement neemt niet deel aan UiTPAS.",
                    "This event does not take part in UiTPAS.",
                )),
            ));
        }
        if !event.card_systems.contains(&pass.card_system) {
            return Err(Problem::no_active_card_systems());
        }
        let mut available = Vec::new();
        let mut message = None;
        let wants_social = filter != TariffFilter::Coupon;
        let wants_coupons = filter != TariffFilter::SocialTariff;
        if wants_social && pass.social == SocialStatus::Active {
            let cs = pass.card_system;
            let limit = event.social_limit;
            let used = self.used(
                &pass.number,
                cs.social_tariff_id,
                Some(event_id),
                limit.period.since(now),
            );
            let remaining = limit.max.saturating_sub(used);
            if remaining == 0 {
                message = Some(EndUserMessage::new(
                    "Je hebt het maximum aantal tickets met kansentarief voor dit evenement bereikt.",
                    "You have reached the maximum number of social tariff tickets for this event.",
                ));
            }
            available.push(Available {
                tariff: Tariff {
                    id: cs.social_tariff_id.to_owned(),
                    name: cs.social_tariff_name.to_owned(),
                    price_cents: cs.social_price(regular_cents),
                    kind: TariffType::Socialtariff,
                },
                remaining,
            });
        }
        if wants_coupons {
            for coupon in pass
                .coupons
                .iter()
                .filter(|c| event.card_systems.contains(&c.card_system))
            {
                let used = self.used(&pass.number, coupon.id, None, coupon.limit.period.since(now));
                let remaining = coupon.limit.max.saturating_sub(used);
                if remaining > 0 {
                    available.push(Available {
                        tariff: Tariff {
                            id: coupon.id.to_owned(),
                            name: coupon.name.to_owned(),
                            price_cents: coupon.price_cents.min(regular_cents),
                            kind: TariffType::Coupon,
                        },
                        remaining,
                    });
                }
            }
        }
        match pass.social {
            SocialStatus::Expired if wants_social => {
                if available.is_empty() {
                    return Err(Problem::social_tariff_expired());
                }
                message = Some(EndUserMessage::new(
                    "Je recht op kansentarief is verlopen; je bon kan je wel nog gebruiken.",
                    "Your right to the social tariff has expired; you can still use your coupon.",
                ));
            }
            SocialStatus::None if available.is_empty() => {
                message = Some(EndUserMessage::new(
                    "Met deze UiTPAS heb je geen recht op kansentarief.",
                    "This UiTPAS gives no right to the social tariff.",
                ));
            }
            _ => {}
        }
        Ok((available, message))
    }

    /// `GET /tariffs/static`: the social tariffs of an event before the pass is known.
    pub fn static_tariffs(&self, event_id: &str, regular_cents: i64) -> Result<Vec<Available>, Problem> {
        let event = self.event(event_id).ok_or_else(Problem::event_not_found)?;
        if event.card_systems.is_empty() {
            return Err(Problem::social_tariff_not_available());
        }
        Ok(event
            .card_systems
            .iter()
            .map(|cs| Available {
                tariff: Tariff {
                    id: cs.social_tariff_id.to_owned(),
                    name: cs.social_tariff_name.to_owned(),
                    price_cents: cs.social_price(regular_cents),
                    kind: TariffType::Socialtariff,
                },
                remaining: event.social_limit.max,
            })
            .collect())
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

    /// `GET /ticket-sales?eventId=`: the active sales of an event, oldest first, one page.
    pub fn sales_of_event(&self, event_id: &str, start: usize, limit: usize) -> (usize, Vec<&Sale>) {
        let active: Vec<&Sale> = self
            .sales_by_event
            .get(event_id)
            .map(|ix| {
                ix.iter()
                    .map(|&i| &self.sales[i])
                    .filter(|s| s.status == SaleStatus::Active)
                    .collect()
            })
            .unwrap_or_default();
        let total = active.len();
        (total, active.into_iter().skip(start).take(limit).collect())
    }

    pub fn all_sales(&self) -> &[Sale] {
        &self.sales
    }

    // --- check-ins ---

    /// `POST /checkins`: one check-in per passholder, event and day, inside the event's hours.
    pub fn checkin(&mut self, number: &str, event_id: &str, now: DateTime<Utc>) -> Result<(Checkin, i64), Problem> {
        let pass = self.usable_pass(number, now)?;
        let event = self.event(event_id).ok_or_else(Problem::event_not_found)?;
        if event.card_systems.is_empty() {
            return Err(Problem::checkin_not_allowed(EndUserMessage::new(
                "Dit evenement neemt niet deel aan UiTPAS: je kan hier geen punten sparen.",
                "This event does not take part in UiTPAS: you cannot earn points here.",
            )));
        }
        if !event.card_systems.contains(&pass.card_system) {
            return Err(Problem::no_active_card_systems());
        }
        // Open from two hours before until two hours after each occurrence.
        let margin = chrono::Duration::hours(2);
        if let Some(windows) = &event.checkin_windows
            && !windows.iter().any(|(s, e)| now >= *s - margin && now <= *e + margin)
        {
            return Err(Problem::checkin_not_allowed(EndUserMessage::new(
                "Inchecken kan alleen tijdens het evenement.",
                "Checking in is only possible during the event.",
            )));
        }
        let today = Period::Day.since(now);
        if self
            .checkins
            .iter()
            .any(|c| c.uitpas_number == pass.number && c.event_id == event_id && c.at >= today)
        {
            return Err(Problem::checkin_not_allowed(EndUserMessage::new(
                "Je bent vandaag al ingecheckt voor dit evenement.",
                "You have already checked in for this event today.",
            )));
        }
        let checkin = Checkin {
            id: uuid::Uuid::new_v4().to_string(),
            event_id: event_id.to_owned(),
            uitpas_number: pass.number.clone(),
            at: now,
        };
        self.checkins.push(checkin.clone());
        *self.points.entry(pass.number.clone()).or_insert(0) += 1;
        Ok((checkin, 1))
    }
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
