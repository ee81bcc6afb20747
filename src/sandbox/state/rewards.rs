//! Rewards ("pay with UiTPAS points") in the sandbox's memory: publiq's test rewards, whether a
//! pass may redeem one now and why not, redemptions, their cancellation, and the points they
//! cost. A pass's balance is the one [`World::points`] shows (`GET /passes`): the dataset's
//! points, plus one per check-in, minus the points of its redemptions that are not cancelled,
//! plus what `PUT /_sandbox/passes/{uitpasNumber}/points` changed.

use std::sync::LazyLock;

use chrono::{DateTime, Datelike, Duration, TimeZone, Utc};
use serde::Serialize;

use super::super::dataset::{self, CardStatus, PassData, Period, TEST_ORGANIZER};
use super::super::problem::{EndUserMessage, Problem};
use super::{World, strict_number};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RewardType {
    Points,
    Welcome,
}

/// The calendar period of a volume constraint (the specification's `redeemConstraint.period`),
/// in UTC like the rest of the sandbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Calendar {
    Absolute,
    Day,
    /// Monday 00:00 to Sunday 23:59.
    Week,
}

impl Calendar {
    /// The start of the period `now` is in.
    pub fn since(self, now: DateTime<Utc>) -> DateTime<Utc> {
        match self {
            Calendar::Absolute => DateTime::<Utc>::MIN_UTC,
            Calendar::Day => Period::Day.since(now),
            Calendar::Week => Period::Day.since(now) - Duration::days(i64::from(now.weekday().num_days_from_monday())),
        }
    }
}

/// At most `volume` redemptions in each `period`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Volume {
    pub volume: u32,
    pub period: Calendar,
}

/// A reward of the dataset.
#[derive(Debug, Clone, PartialEq)]
pub struct RewardData {
    pub id: &'static str,
    pub title: &'static str,
    pub kind: RewardType,
    /// What it costs (0 for a welcome reward).
    pub points: i64,
    pub category: &'static str,
    pub organizer: &'static str,
    /// When it is shown and can be redeemed (granted, for a welcome reward); `None`: no end.
    pub begin: DateTime<Utc>,
    pub end: Option<DateTime<Utc>>,
    pub per_passholder: Option<Volume>,
    /// All passes together (shown as `maxAvailableUnits`).
    pub in_total: Option<Volume>,
    pub online: bool,
    /// Whether a redemption gets a code and instructions (`redeemCode`, `redeemInfo`).
    pub with_code: bool,
}

impl RewardData {
    pub fn in_period(&self, now: DateTime<Utc>) -> bool {
        now >= self.begin && self.end.is_none_or(|end| now <= end)
    }
}

fn day(y: i32, m: u32, d: u32, h: u32, min: u32, s: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, h, min, s)
        .single()
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// publiq's test rewards, all of the test organizer.
pub static REWARDS: LazyLock<Vec<RewardData>> = LazyLock::new(|| {
    let open = day(2024, 1, 1, 0, 0, 0);
    let (expired_begin, expired_end) = (day(2025, 1, 1, 0, 0, 0), Some(day(2025, 12, 31, 23, 59, 59)));
    let reward = |id, title, kind, points, category| RewardData {
        id,
        title,
        kind,
        points,
        category,
        organizer: TEST_ORGANIZER,
        begin: open,
        end: None,
        per_passholder: None,
        in_total: None,
        online: false,
        with_code: false,
    };
    vec![
        reward("5687", "Gratis koffie", RewardType::Points, 10, "Eten en drinken"),
        reward(
            "5688",
            "Welkomstgeschenk: een UiTPAS-draagtas",
            RewardType::Welcome,
            0,
            "Gadget of item",
        ),
        RewardData {
            per_passholder: Some(Volume {
                volume: 1,
                period: Calendar::Week,
            }),
            ..reward("5823", "Gratis zwembeurt (1 per week)", RewardType::Points, 5, "Doen")
        },
        RewardData {
            in_total: Some(Volume {
                volume: 10,
                period: Calendar::Day,
            }),
            online: true,
            with_code: true,
            ..reward(
                "5824",
                "Online: € 5 korting in de webshop (10 per dag)",
                RewardType::Points,
                3,
                "Doen",
            )
        },
        RewardData {
            begin: expired_begin,
            end: expired_end,
            ..reward("5825", "Verlopen: gratis filmticket", RewardType::Points, 10, "Doen")
        },
        RewardData {
            begin: expired_begin,
            end: expired_end,
            ..reward(
                "5826",
                "Verlopen welkomstgeschenk",
                RewardType::Welcome,
                0,
                "Gadget of item",
            )
        },
    ]
});

pub fn reward(id: &str) -> Option<&'static RewardData> {
    REWARDS.iter().find(|r| r.id == id)
}

/// One redemption of a reward by a pass, kept when cancelled.
#[derive(Debug, Clone, PartialEq)]
pub struct Redemption {
    pub id: String,
    pub reward_id: String,
    pub uitpas_number: String,
    /// The points it cost, given back when it is cancelled.
    pub points: i64,
    pub redeem_code: Option<String>,
    pub at: DateTime<Utc>,
    pub cancelled_at: Option<DateTime<Utc>>,
}

/// Why a pass may not redeem a reward now: the specification's `reason` of `redeem-status`, and
/// the problem `POST /rewards/redeemed` answers for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// A blocked card.
    Blocked,
    /// A group pass: it has no passholder's points to pay with.
    GroupPass,
    RewardPeriod,
    RewardVolume,
    PassholderVolume,
    PassholderPoints,
}

impl Refusal {
    pub fn reason(self) -> &'static str {
        match self {
            Refusal::Blocked | Refusal::GroupPass => "INVALID_CARD",
            Refusal::RewardPeriod => "REWARD_PERIOD",
            Refusal::RewardVolume => "REWARD_VOLUME",
            Refusal::PassholderVolume => "PASSHOLDER_VOLUME",
            Refusal::PassholderPoints => "PASSHOLDER_POINTS",
        }
    }

    pub fn message(self) -> EndUserMessage {
        let (nl, en) = match self {
            Refusal::Blocked => (
                "Deze UiTPAS is geblokkeerd: je kan er geen voordelen mee omruilen.",
                "This UiTPAS is blocked: it cannot redeem rewards.",
            ),
            Refusal::GroupPass => (
                "Met een groepspas kan je geen voordelen omruilen.",
                "A group pass cannot redeem rewards.",
            ),
            Refusal::RewardPeriod => (
                "Dit voordeel kan je nu niet omruilen: het is niet (meer) geldig.",
                "This reward cannot be redeemed now: it is not (or no longer) valid.",
            ),
            Refusal::RewardVolume => (
                "Dit voordeel is voor vandaag uitgeput. Probeer het morgen opnieuw.",
                "This reward is sold out for today. Try again tomorrow.",
            ),
            Refusal::PassholderVolume => (
                "Je hebt dit voordeel al omgeruild: je kan het maar één keer per week omruilen.",
                "You have already redeemed this reward: it can be redeemed once a week.",
            ),
            // publiq's own wording (the example of get-rewards-id-redeem-status).
            Refusal::PassholderPoints => (
                "Jammer, je hebt nog niet genoeg punten om dit voordeel om te ruilen.",
                "Sorry, you do not have enough points to redeem this reward yet.",
            ),
        };
        EndUserMessage::new(nl, en)
    }

    /// What `POST /rewards/redeemed` answers for it.
    pub fn problem(self) -> Problem {
        let (slug, title) = match self {
            Refusal::Blocked | Refusal::GroupPass => ("invalid-card", "Invalid card"),
            Refusal::RewardPeriod => ("reward-period-constraint", "Reward period constraint"),
            Refusal::RewardVolume => ("reward-volume-constraint", "Reward volume constraint"),
            Refusal::PassholderVolume => (
                "reward-passholder-volume-constraint",
                "Reward passholder volume constraint",
            ),
            Refusal::PassholderPoints => (
                "reward-passholder-points-constraint",
                "Reward passholder points constraint",
            ),
        };
        Problem::uitpas(slug, axum::http::StatusCode::BAD_REQUEST, title, self.message())
    }
}

impl World {
    /// The pass that asks to redeem `reward` now, or why it may not (`Ok(Err(_))`); a number
    /// that is malformed or of no passholder is an error of the request.
    pub fn may_redeem(
        &self,
        reward: &RewardData,
        number: &str,
        now: DateTime<Utc>,
    ) -> Result<Result<PassData, Refusal>, Problem> {
        let number = strict_number(number).ok_or_else(Problem::invalid_uitpas_number_of_rewards)?;
        let pass = dataset::pass(number.as_str(), now)
            .filter(|p| p.holder.is_some())
            .ok_or_else(Problem::passholder_not_found)?;
        let refusal = if pass.card == CardStatus::Blocked {
            Some(Refusal::Blocked)
        } else if pass.group {
            Some(Refusal::GroupPass)
        } else if !reward.in_period(now) {
            Some(Refusal::RewardPeriod)
        } else if reward
            .in_total
            .is_some_and(|v| self.redeemed_since(reward.id, None, v.period.since(now)) >= v.volume)
        {
            Some(Refusal::RewardVolume)
        } else if reward
            .per_passholder
            .is_some_and(|v| self.redeemed_since(reward.id, Some(&pass.number), v.period.since(now)) >= v.volume)
        {
            Some(Refusal::PassholderVolume)
        } else if self.points(&pass) < reward.points {
            Some(Refusal::PassholderPoints)
        } else {
            None
        };
        Ok(refusal.map_or(Ok(pass), Err))
    }

    /// The redemptions of a reward not cancelled since a moment, of one pass or all.
    fn redeemed_since(&self, reward_id: &str, number: Option<&str>, since: DateTime<Utc>) -> u32 {
        let count = self
            .redemptions
            .iter()
            .filter(|r| r.cancelled_at.is_none() && r.reward_id == reward_id && r.at >= since)
            .filter(|r| number.is_none_or(|n| r.uitpas_number == n))
            .count();
        u32::try_from(count).unwrap_or(u32::MAX)
    }

    /// `unitsTaken`: the redemptions that count against the reward's total now.
    pub fn units_taken(&self, reward: &RewardData, now: DateTime<Utc>) -> u32 {
        let since = reward
            .in_total
            .map_or(DateTime::<Utc>::MIN_UTC, |v| v.period.since(now));
        self.redeemed_since(reward.id, None, since)
    }

    /// `POST /rewards/redeemed`: the pass pays the reward's points, when [`Self::may_redeem`]
    /// allows it.
    pub fn redeem(&mut self, reward: &RewardData, number: &str, now: DateTime<Utc>) -> Result<Redemption, Problem> {
        let pass = self.may_redeem(reward, number, now)?.map_err(Refusal::problem)?;
        let redemption = Redemption {
            id: uuid::Uuid::new_v4().to_string(),
            reward_id: reward.id.to_owned(),
            uitpas_number: pass.number.clone(),
            points: reward.points,
            redeem_code: reward
                .with_code
                .then(|| format!("SBX-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]).to_uppercase()),
            at: now,
            cancelled_at: None,
        };
        *self.points.entry(pass.number).or_insert(0) -= redemption.points;
        self.redemptions.push(redemption.clone());
        Ok(redemption)
    }

    pub fn redemption(&self, id: &str) -> Option<&Redemption> {
        self.redemptions.iter().find(|r| r.id == id)
    }

    /// `DELETE /rewards/redeemed/{id}`: the redemption is cancelled and its points given back;
    /// unknown or already cancelled is not found.
    pub fn cancel_redemption(&mut self, id: &str, now: DateTime<Utc>) -> Result<Redemption, Problem> {
        let Some(found) = self
            .redemptions
            .iter_mut()
            .find(|r| r.id == id && r.cancelled_at.is_none())
        else {
            return Err(Problem::not_found_url().detail("No redeemed reward with this id (or it was cancelled)."));
        };
        found.cancelled_at = Some(now);
        let cancelled = found.clone();
        *self.points.entry(cancelled.uitpas_number.clone()).or_insert(0) += cancelled.points;
        Ok(cancelled)
    }

    /// `GET /rewards/redeemed`: the redemptions of these passes that are not cancelled, newest
    /// first, of rewards of these organizers (any when empty) and this type, with the total and
    /// one page.
    pub fn redeemed_by(
        &self,
        numbers: &[String],
        organizers: &[String],
        kind: Option<RewardType>,
        start: usize,
        limit: usize,
    ) -> (usize, Vec<&Redemption>) {
        let found: Vec<&Redemption> = self
            .redemptions
            .iter()
            .rev()
            .filter(|r| r.cancelled_at.is_none() && numbers.contains(&r.uitpas_number))
            .filter(|r| {
                reward(&r.reward_id).is_some_and(|rw| {
                    (organizers.is_empty() || organizers.iter().any(|o| o == rw.organizer))
                        && kind.is_none_or(|k| rw.kind == k)
                })
            })
            .collect();
        let total = found.len();
        (total, found.into_iter().skip(start).take(limit).collect())
    }

    /// Every redemption ever made, cancelled ones included, oldest first.
    pub fn all_redemptions(&self) -> &[Redemption] {
        &self.redemptions
    }

    /// `PUT /_sandbox/passes/{uitpasNumber}/points`: makes a pass's balance `points`; returns the
    /// change, for a store to keep.
    pub fn set_points(&mut self, number: &str, points: i64, now: DateTime<Utc>) -> Result<i64, Problem> {
        let pass = strict_number(number)
            .and_then(|n| dataset::pass(n.as_str(), now))
            .filter(|p| p.holder.is_some())
            .ok_or_else(Problem::pass_not_found)?;
        let change = points - self.points(&pass);
        *self.points.entry(pass.number).or_insert(0) += change;
        Ok(change)
    }

    /// Puts back what a store kept: redemptions (oldest first) and changes of balances.
    pub fn restore_rewards(&mut self, redemptions: Vec<Redemption>, changes: Vec<(String, i64)>) {
        for redemption in redemptions {
            if redemption.cancelled_at.is_none() {
                *self.points.entry(redemption.uitpas_number.clone()).or_insert(0) -= redemption.points;
            }
            self.redemptions.push(redemption);
        }
        for (number, change) in changes {
            *self.points.entry(number).or_insert(0) += change;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POINTS_PASS: &str = "0900000095902";

    #[test]
    fn a_calendar_week_starts_on_monday_at_midnight() {
        let sunday = Utc.with_ymd_and_hms(2026, 12, 6, 22, 0, 0).unwrap();
        let monday = Utc.with_ymd_and_hms(2026, 11, 30, 0, 0, 0).unwrap();
        assert_eq!(Calendar::Week.since(sunday), monday);
        assert_eq!(Calendar::Week.since(monday), monday);
        assert_eq!(
            Calendar::Day.since(sunday),
            Utc.with_ymd_and_hms(2026, 12, 6, 0, 0, 0).unwrap()
        );
    }

    #[test]
    fn a_weekly_reward_is_free_again_the_next_monday_and_a_cancelled_one_does_not_count() {
        let mut world = World::new();
        let weekly = reward("5823").unwrap();
        let sunday = Utc.with_ymd_and_hms(2026, 12, 6, 22, 0, 0).unwrap();
        let first = world.redeem(weekly, POINTS_PASS, sunday).expect("the first");
        assert_eq!(
            world.may_redeem(weekly, POINTS_PASS, sunday).unwrap().err(),
            Some(Refusal::PassholderVolume)
        );
        let monday = sunday + Duration::hours(3);
        assert!(world.may_redeem(weekly, POINTS_PASS, monday).unwrap().is_ok());
        world.cancel_redemption(&first.id, sunday).expect("cancelled");
        assert!(world.may_redeem(weekly, POINTS_PASS, sunday).unwrap().is_ok());
        assert!(world.cancel_redemption(&first.id, sunday).is_err(), "only once");
    }

    #[test]
    fn the_online_reward_allows_ten_a_day_for_all_passes_together() {
        let mut world = World::new();
        let online = reward("5824").unwrap();
        let now = Utc.with_ymd_and_hms(2026, 12, 7, 10, 0, 0).unwrap();
        world.set_points("0900000067513", 100, now).unwrap();
        for i in 0..10 {
            let number = if i % 2 == 0 { POINTS_PASS } else { "0900000067513" };
            let r = world.redeem(online, number, now).expect("within ten");
            assert!(r.redeem_code.is_some());
        }
        let refused = world.redeem(online, POINTS_PASS, now).expect_err("the eleventh");
        assert!(refused.kind.ends_with("/reward-volume-constraint"), "{refused:?}");
        assert!(
            world
                .may_redeem(online, POINTS_PASS, now + Duration::days(1))
                .unwrap()
                .is_ok()
        );
    }

    #[test]
    fn points_are_paid_and_given_back_and_a_set_balance_is_the_balance() {
        let mut world = World::new();
        let now = Utc::now();
        let pass = dataset::pass(POINTS_PASS, now).unwrap();
        let before = world.points(&pass);
        let coffee = reward("5687").unwrap();
        let r = world.redeem(coffee, POINTS_PASS, now).unwrap();
        assert_eq!(world.points(&pass), before - 10);
        world.cancel_redemption(&r.id, now).unwrap();
        assert_eq!(world.points(&pass), before);
        world.set_points(POINTS_PASS, 9, now).unwrap();
        assert_eq!(world.points(&pass), 9);
        assert_eq!(
            world.may_redeem(coffee, POINTS_PASS, now).unwrap().err(),
            Some(Refusal::PassholderPoints)
        );
    }
}
