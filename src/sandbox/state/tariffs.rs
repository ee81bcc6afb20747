//! Tariffs in the sandbox's memory: the discounted tariffs a pass may pay for an event at a
//! price (what remains of each limit counted from the pass's sales), and the static tariffs of an
//! event.

use chrono::{DateTime, Utc};

use super::super::dataset::SocialStatus;
use super::super::problem::{EndUserMessage, Problem};
use super::{Available, SaleStatus, Tariff, TariffFilter, TariffType, World};

impl World {
    /// Counts the active sales of a pass at a tariff since a moment, optionally on one event.
    pub(super) fn used(&self, number: &str, tariff_id: &str, event_id: Option<&str>, since: DateTime<Utc>) -> u32 {
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
}
