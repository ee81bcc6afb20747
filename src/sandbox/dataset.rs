//! publiq's test dataset, as published for the UiTPAS test environment (2026-02-19), plus the
//! synthetic `0999…` passes used by load tests. Everything here is static: what changes (sales,
//! coupons used, events created, points) lives in [`super::state`].
//!
//! Passes (UiTPAS number, chip number, INSZ number: what publiq's dataset gives them):
//! - 0900000095902 (04784CDAEE3880, 83030201540): no social tariff, postal code 9000.
//! - 0900000067513 (04363CDAEE3880, 36051380284): social tariff active (Gent), 9090.
//! - 0900000031618 (04CEE7528E6180, 66010101785): social tariff expired, a € 1 coupon.
//! - 0900010959113 (04ED6ACACF6180, 08091860684): social tariff active (Gentbrugge, card system
//!   Gent), 9090; the sandbox plays it in its grace period (ACTIVE past its end date, with a
//!   message). Replaces 0900000036112, which stays as an extra playing the same.
//! - 0900000002312 (04B00412F15284, 71030360442): social tariff active, card blocked.
//! - 0900000058918 (045157B2B63780, 17010180147): social tariff expired, 1000.
//! - 1000000520006 (045A4832633680, 80010101392): no social tariff.
//! - 0900000093204 (045D69DAEE3880, 10010105762): social tariff active in Paspartoe, two coupons.
//! - 0900004518305 (no chip, 80010170282): online UiTPAS of a family account, no social tariff;
//!   publiq lists the child of that account (INSZ 20010170215) under the same UiTPAS number,
//!   which the sandbox plays as published: that INSZ finds pass 0900004518305 with the child as
//!   its passholder.
//! - 0900011902815 (no chip, 91063061055) and its child 0900011903417 (no chip, 15021760024):
//!   online UiTPAS of a family account, social tariff active (Gent).
//! - 0900000074519 (044AC54A8E6180) and 0900000020405 (047E2EEA053B80): cards not registered to
//!   a passholder (social tariff active, none). 0900000020405 replaces 0900000075706, which stays.
//! - 0900000045410 (04D0AB6AF85C80): group pass with social tariff.
//! - 0900000191800 (048B25DAEE3880): group pass with a group coupon, 50 sales a day.

use chrono::{DateTime, Duration, TimeZone, Utc};

use crate::domain::luhn_valid;

/// The test organizer: "[TEST] UiTPAS Organisatie (Regio Gent + Paspartoe)".
pub const TEST_ORGANIZER: &str = "0ce87cbc-9299-4528-8d35-92225dc9489f";
/// "Permanente UiTPAS Test Festiviteit": 100 social-tariff sales per passholder per week.
pub const TEST_EVENT: &str = "5a0967f9-cc06-4c3c-9206-30481a767434";
/// "Test event met beperkte aankoop": one social-tariff sale per passholder per week.
pub const LIMITED_EVENT: &str = "d83b5b8a-108a-45d6-9ac9-8bdc44a0a24a";
/// "Test event with no permission": an event of another organizer, for which publiq's test client
/// has no permission (403).
pub const NO_PERMISSION_EVENT: &str = "373d6cee-b4ae-4637-9b7c-eeb79e45f044";
/// The sandbox's own second UiTPAS organizer (not in publiq's dataset): the organizer of the
/// no-permission event, so that a second sandbox client can act for it.
pub const OTHER_ORGANIZER: &str = "6f1a8c3e-2b4d-4e7f-9a0b-c5d6e7f8a9b0";

/// A UiTPAS card system (a region) and how it computes its social price.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CardSystem {
    pub id: i64,
    pub name: &'static str,
    /// The social tariff as a percentage of the regular price, rounded to cents.
    pub social_percent: i64,
    pub social_tariff_id: &'static str,
    pub social_tariff_name: &'static str,
}

pub const GENT: CardSystem = CardSystem {
    id: 1,
    name: "UiTPAS Regio Gent",
    social_percent: 20,
    social_tariff_id: "kansentarief-regio-gent",
    social_tariff_name: "Kansentarief UiTPAS Regio Gent",
};

pub const PASPARTOE: CardSystem = CardSystem {
    id: 5,
    name: "Paspartoe",
    social_percent: 25,
    social_tariff_id: "kansentarief-paspartoe",
    social_tariff_name: "Kansentarief Paspartoe",
};

pub const CARD_SYSTEMS: [CardSystem; 2] = [GENT, PASPARTOE];

impl CardSystem {
    /// The social price for a regular price, both in cents: the percentage, rounded half up.
    pub fn social_price(&self, regular_cents: i64) -> i64 {
        (regular_cents * self.social_percent + 50) / 100
    }
}

/// How many sales a passholder may make within a period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub max: u32,
    pub period: Period,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    /// The current UTC calendar day.
    Day,
    /// The last seven days.
    Week,
    /// For ever.
    Ever,
}

impl Period {
    /// The earliest moment that still counts for a limit measured at `now`.
    pub fn since(self, now: DateTime<Utc>) -> DateTime<Utc> {
        match self {
            Period::Day => now
                .date_naive()
                .and_hms_opt(0, 0, 0)
                .map(|d| Utc.from_utc_datetime(&d))
                .unwrap_or(now),
            Period::Week => now - Duration::days(7),
            Period::Ever => DateTime::<Utc>::MIN_UTC,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SocialStatus {
    Active,
    Expired,
    None,
}

impl SocialStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SocialStatus::Active => "ACTIVE",
            SocialStatus::Expired => "EXPIRED",
            SocialStatus::None => "NONE",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CardStatus {
    Active,
    Blocked,
}

/// A coupon: a tariff of type COUPON with its own price, used up by sales within its limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Coupon {
    pub id: &'static str,
    pub name: &'static str,
    /// The coupon's price in cents; never above the regular price.
    pub price_cents: i64,
    pub card_system: CardSystem,
    pub limit: Limit,
}

/// A UiTPAS card as the dataset knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PassData {
    pub number: String,
    pub group: bool,
    /// `None` for a card that is not registered to a passholder.
    pub holder: Option<Holder>,
    pub social: SocialStatus,
    /// publiq warns not to decide anything from it: a status can stay ACTIVE past it (grace period).
    pub social_end: Option<DateTime<Utc>>,
    pub card_system: CardSystem,
    pub card: CardStatus,
    pub coupons: Vec<Coupon>,
    /// Extra messages UiTPAS says must be shown (beyond those derived from the status).
    pub messages: Vec<(&'static str, &'static str)>,
    /// The number of the card's chip (not for an online UiTPAS).
    pub chip_number: Option<&'static str>,
    /// The passholder's INSZ (national register) number, where the dataset gives one.
    pub insz_number: Option<&'static str>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    pub id: String,
    pub first_name: &'static str,
    pub postal_code: &'static str,
    pub points: i64,
}

/// The ids of the passholders the dataset makes from their UiTPAS number, before its last 12 digits.
const HOLDER_ID_PREFIX: &str = "00000000-0000-4000-8000-";

fn holder(number: &str, first_name: &'static str, postal_code: &'static str, points: i64) -> Option<Holder> {
    Some(Holder {
        id: format!("{HOLDER_ID_PREFIX}{}", &number[1..]),
        first_name,
        postal_code,
        points,
    })
}

/// The UiTPAS numbers whose passholder is `holder_id` (the inverse of how [`holder`] makes ids),
/// so that a search by passholder need not look at every sale.
pub fn numbers_of_holder(holder_id: &str, now: DateTime<Utc>) -> Vec<String> {
    let Some(rest) = holder_id.strip_prefix(HOLDER_ID_PREFIX) else {
        return Vec::new();
    };
    if rest.len() != 12 || !rest.bytes().all(|b| b.is_ascii_digit()) {
        return Vec::new();
    }
    (0..=9)
        .map(|first| format!("{first}{rest}"))
        .filter(|n| luhn_valid(n) && pass(n, now).and_then(|p| p.holder).is_some_and(|h| h.id == holder_id))
        .collect()
}

fn date(y: i32, m: u32, d: u32) -> Option<DateTime<Utc>> {
    Utc.with_ymd_and_hms(y, m, d, 23, 59, 59).single()
}

const SINGLE_USE: Limit = Limit {
    max: 1,
    period: Period::Ever,
};

/// The other identifiers of the dataset's cards: (UiTPAS number, chip number, INSZ number).
const IDENTIFIERS: [(&str, Option<&str>, Option<&str>); 15] = [
    ("0900000095902", Some("04784CDAEE3880"), Some("83030201540")),
    ("0900000067513", Some("04363CDAEE3880"), Some("36051380284")),
    ("0900000031618", Some("04CEE7528E6180"), Some("66010101785")),
    ("0900010959113", Some("04ED6ACACF6180"), Some("08091860684")),
    ("0900000002312", Some("04B00412F15284"), Some("71030360442")),
    ("0900000058918", Some("045157B2B63780"), Some("17010180147")),
    ("1000000520006", Some("045A4832633680"), Some("80010101392")),
    ("0900000093204", Some("045D69DAEE3880"), Some("10010105762")),
    ("0900004518305", None, Some("80010170282")),
    ("0900011902815", None, Some("91063061055")),
    ("0900011903417", None, Some("15021760024")),
    ("0900000074519", Some("044AC54A8E6180"), None),
    ("0900000020405", Some("047E2EEA053B80"), None),
    ("0900000045410", Some("04D0AB6AF85C80"), None),
    ("0900000191800", Some("048B25DAEE3880"), None),
];

/// The family account's parent pass under which publiq lists the child's INSZ number.
const FAMILY_PARENT: &str = "0900004518305";
/// The child publiq lists under [`FAMILY_PARENT`]'s UiTPAS number.
const FAMILY_CHILD_INSZ: &str = "20010170215";

/// Looks a card up by any of its identifiers, as `GET /passes?identifier=` does: a UiTPAS number
/// (13 digits with a valid check digit), a chip number (14 hexadecimal digits, any case) or an
/// INSZ number (11 digits; dots, dashes and spaces are ignored).
pub fn pass_by_identifier(identifier: &str, now: DateTime<Utc>) -> Option<PassData> {
    let identifier = identifier.trim();
    if identifier.len() == 13 && identifier.bytes().all(|b| b.is_ascii_digit()) {
        return luhn_valid(identifier).then(|| pass(identifier, now)).flatten();
    }
    if identifier.len() == 14 && identifier.bytes().all(|b| b.is_ascii_hexdigit()) {
        let (number, ..) = IDENTIFIERS
            .iter()
            .find(|(_, chip, _)| chip.is_some_and(|c| c.eq_ignore_ascii_case(identifier)))?;
        return pass(number, now);
    }
    let insz: String = identifier.chars().filter(|c| !matches!(c, '.' | '-' | ' ')).collect();
    if insz.len() != 11 || !insz.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if insz == FAMILY_CHILD_INSZ {
        return pass(FAMILY_PARENT, now).map(|parent| PassData {
            holder: Some(Holder {
                id: "00000000-0000-4000-8001-020010170215".to_owned(),
                first_name: "Mila",
                postal_code: "9000",
                points: 0,
            }),
            insz_number: Some(FAMILY_CHILD_INSZ),
            ..parent
        });
    }
    let (number, ..) = IDENTIFIERS
        .iter()
        .find(|(_, _, known)| known.is_some_and(|k| k == insz))?;
    pass(number, now)
}

/// Looks a card up: the documented dataset first, then the synthetic `0999…` range.
/// `number` must already be a well-formed (13 digits, Luhn-valid) number.
pub fn pass(number: &str, now: DateTime<Utc>) -> Option<PassData> {
    let (chip_number, insz_number) = IDENTIFIERS
        .iter()
        .find(|(n, ..)| *n == number)
        .map_or((None, None), |(_, chip, insz)| (*chip, *insz));
    let base = |holder_: Option<Holder>, social, social_end| PassData {
        number: number.to_owned(),
        chip_number,
        insz_number,
        group: false,
        holder: holder_,
        social,
        social_end,
        card_system: GENT,
        card: CardStatus::Active,
        coupons: Vec::new(),
        messages: Vec::new(),
    };
    let next_year_end = date(now.format("%Y").to_string().parse::<i32>().unwrap_or(2030) + 1, 12, 31);
    let p = match number {
        "0900000095902" => base(holder(number, "Noah", "9000", 100), SocialStatus::None, None),
        "0900000067513" => base(holder(number, "Amira", "9090", 40), SocialStatus::Active, next_year_end),
        "0900000031618" => PassData {
            coupons: vec![Coupon {
                id: "bon-gent-31618",
                name: "Bon UiTPAS Regio Gent: ticket aan € 1",
                price_cents: 100,
                card_system: GENT,
                limit: SINGLE_USE,
            }],
            ..base(
                holder(number, "Lotte", "9000", 7),
                SocialStatus::Expired,
                date(2023, 12, 31),
            )
        },
        // ACTIVE although its end date has passed: the grace period publiq warns about.
        // 0900000036112 is the number publiq's dataset had for it before 2026-02.
        "0900010959113" | "0900000036112" => PassData {
            messages: vec![(
                "INFO",
                "Je recht op kansentarief loopt af. Verleng het tijdig bij een UiTPAS-balie.",
            )],
            ..base(
                holder(
                    number,
                    if number == "0900010959113" { "Ilias" } else { "Youssef" },
                    "9090",
                    3,
                ),
                SocialStatus::Active,
                date(2024, 6, 30),
            )
        },
        "0900000002312" => PassData {
            card: CardStatus::Blocked,
            ..base(holder(number, "Jan", "9000", 0), SocialStatus::Active, next_year_end)
        },
        "0900000058918" => base(
            holder(number, "Marie", "1000", 25),
            SocialStatus::Expired,
            date(2022, 12, 31),
        ),
        "1000000520006" => base(holder(number, "Elias", "9000", 0), SocialStatus::None, None),
        "0900000093204" => PassData {
            card_system: PASPARTOE,
            coupons: vec![
                Coupon {
                    id: "bon-paspartoe-93204-gratis",
                    name: "Paspartoe-bon: gratis ticket",
                    price_cents: 0,
                    card_system: PASPARTOE,
                    limit: SINGLE_USE,
                },
                Coupon {
                    id: "bon-paspartoe-93204-3euro",
                    name: "Paspartoe-bon: ticket aan € 3",
                    price_cents: 300,
                    card_system: PASPARTOE,
                    limit: SINGLE_USE,
                },
            ],
            ..base(holder(number, "Sofie", "9000", 55), SocialStatus::Active, next_year_end)
        },
        // Online UiTPAS of family accounts (no card, so no chip).
        "0900004518305" => base(holder(number, "Kim", "9000", 8), SocialStatus::None, None),
        "0900011902815" => base(holder(number, "Fatima", "9000", 4), SocialStatus::Active, next_year_end),
        "0900011903417" => base(holder(number, "Adam", "9000", 0), SocialStatus::Active, next_year_end),
        "0900000074519" => base(None, SocialStatus::Active, next_year_end),
        // 0900000075706 is the number publiq's dataset had for it before 2026-02.
        "0900000020405" | "0900000075706" => base(None, SocialStatus::None, None),
        "0900000045410" => PassData {
            group: true,
            ..base(
                holder(number, "Vzw Speelplein De Krekel", "9000", 0),
                SocialStatus::Active,
                next_year_end,
            )
        },
        "0900000191800" => PassData {
            group: true,
            coupons: vec![Coupon {
                id: "groepsbon-191800",
                name: "Groepsbon: ticket aan € 1,50",
                price_cents: 150,
                card_system: GENT,
                limit: Limit {
                    max: 50,
                    period: Period::Day,
                },
            }],
            ..base(
                holder(number, "Jeugdhuis Den Trap", "9000", 0),
                SocialStatus::None,
                None,
            )
        },
        n if is_synthetic(n) => {
            // The 12th digit decides: even → ACTIVE social tariff, odd → NONE.
            let active = (n.as_bytes()[11] - b'0').is_multiple_of(2);
            let (social, end) = if active {
                (SocialStatus::Active, next_year_end)
            } else {
                (SocialStatus::None, None)
            };
            base(holder(n, "Load", "9000", 0), social, end)
        }
        _ => return None,
    };
    Some(p)
}

/// `first12` followed by its Luhn check digit (`None` unless it is all ASCII digits).
pub fn with_check_digit(first12: &str) -> Option<String> {
    (0..10).map(|d| format!("{first12}{d}")).find(|n| luhn_valid(n))
}

/// The `n`-th synthetic pass with an ACTIVE social tariff (`0999`, seven digits from `n`, an even
/// 12th digit, the check digit), for load tests; `n` wraps at 10 000 000.
pub fn synthetic_active_pass(n: u64) -> String {
    with_check_digit(&format!("0999{:07}0", n % 10_000_000)).unwrap_or_else(|| unreachable!("all digits"))
}

/// The synthetic range: every Luhn-valid 13-digit number starting with `0999`.
pub fn is_synthetic(number: &str) -> bool {
    number.len() == 13 && number.starts_with("0999") && luhn_valid(number)
}

/// A UiTdatabank event as the sandbox knows it.
#[derive(Debug, Clone, PartialEq)]
pub struct EventData {
    pub id: String,
    pub name: String,
    /// The UiTdatabank organizer of the event (`None`: an event without one).
    pub organizer: Option<String>,
    /// Card systems that take part; empty for an event whose organizer is not a UiTPAS organizer.
    pub card_systems: Vec<CardSystem>,
    pub social_limit: Limit,
    /// When a check-in is allowed: `None` means always (a permanent event).
    pub checkin_windows: Option<Vec<(DateTime<Utc>, DateTime<Utc>)>>,
}

/// The events of the dataset.
pub fn builtin_events() -> Vec<EventData> {
    vec![
        EventData {
            id: TEST_EVENT.to_owned(),
            name: "Permanente UiTPAS Test Festiviteit".to_owned(),
            organizer: Some(TEST_ORGANIZER.to_owned()),
            card_systems: CARD_SYSTEMS.to_vec(),
            social_limit: Limit {
                max: 100,
                period: Period::Week,
            },
            checkin_windows: None,
        },
        EventData {
            id: LIMITED_EVENT.to_owned(),
            name: "Test event met beperkte aankoop".to_owned(),
            organizer: Some(TEST_ORGANIZER.to_owned()),
            card_systems: CARD_SYSTEMS.to_vec(),
            // publiq's dataset (2026-02): "only 1 ticket sale per week, to test refusals".
            social_limit: Limit {
                max: 1,
                period: Period::Week,
            },
            checkin_windows: None,
        },
        EventData {
            id: NO_PERMISSION_EVENT.to_owned(),
            name: "Test event with no permission".to_owned(),
            organizer: Some(OTHER_ORGANIZER.to_owned()),
            card_systems: vec![GENT],
            social_limit: Limit {
                max: 100,
                period: Period::Week,
            },
            checkin_windows: None,
        },
    ]
}

/// A UiTPAS organizer, as `GET /permissions` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrganizerData {
    pub id: &'static str,
    pub name: &'static str,
    pub postal_code: &'static str,
    pub city: &'static str,
}

/// The UiTPAS organizers of the sandbox.
pub const ORGANIZERS: [OrganizerData; 2] = [
    OrganizerData {
        id: TEST_ORGANIZER,
        name: "[TEST] UiTPAS Organisatie (Regio Gent + Paspartoe)",
        postal_code: "9000",
        city: "Gent",
    },
    OrganizerData {
        id: OTHER_ORGANIZER,
        name: "[SANDBOX] Tweede UiTPAS-organisator (Regio Gent)",
        postal_code: "9000",
        city: "Gent",
    },
];

pub fn organizer(id: &str) -> Option<&'static OrganizerData> {
    ORGANIZERS.iter().find(|o| o.id == id)
}

/// Whether an organizer takes part in UiTPAS, and with which card systems.
pub fn organizer_card_systems(organizer_id: &str) -> Vec<CardSystem> {
    if organizer_id == TEST_ORGANIZER {
        CARD_SYSTEMS.to_vec()
    } else if organizer_id == OTHER_ORGANIZER {
        vec![GENT]
    } else {
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_social_price_is_a_percentage_rounded_to_cents() {
        assert_eq!(GENT.social_price(1000), 200);
        assert_eq!(GENT.social_price(1299), 260); // 259.8
        assert_eq!(GENT.social_price(1), 0); // 0.2
        assert_eq!(PASPARTOE.social_price(1000), 250);
        assert_eq!(PASPARTOE.social_price(2), 1); // 0.5 rounds up
    }

    #[test]
    fn synthetic_passes_follow_the_twelfth_digit() {
        let now = Utc::now();
        // 099900000000? with the right check digit: digits 0-11 then a Luhn digit.
        let active = with_check_digit("099900000002").unwrap();
        let none = with_check_digit("099900000001").unwrap();
        assert_eq!(pass(&active, now).unwrap().social, SocialStatus::Active);
        assert_eq!(pass(&none, now).unwrap().social, SocialStatus::None);
        assert!(pass("0900000000000", now).is_none() || !luhn_valid("0900000000000"));
    }

    #[test]
    fn every_number_of_publiqs_dataset_is_luhn_valid_and_known() {
        let now = Utc::now();
        for (number, chip, insz) in IDENTIFIERS {
            assert!(luhn_valid(number), "{number}");
            let by_number = pass(number, now).unwrap_or_else(|| panic!("{number} is known"));
            assert_eq!((by_number.chip_number, by_number.insz_number), (chip, insz));
            for id in [chip, insz].into_iter().flatten() {
                assert_eq!(pass_by_identifier(id, now).map(|p| p.number), Some(number.to_owned()));
            }
        }
        for extra in ["0900000036112", "0900000075706"] {
            assert!(luhn_valid(extra) && pass(extra, now).is_some(), "{extra}");
        }
    }

    #[test]
    fn a_passholders_numbers_are_found_from_its_id() {
        let now = Utc::now();
        for number in ["0900000067513", "1000000520006", &synthetic_active_pass(42)] {
            let id = pass(number, now).unwrap().holder.unwrap().id;
            assert_eq!(numbers_of_holder(&id, now), [number.to_owned()]);
        }
        assert!(numbers_of_holder("00000000-0000-4000-8001-020010170215", now).is_empty());
        assert!(numbers_of_holder("00000000-0000-4000-8000-x", now).is_empty());
        assert!(numbers_of_holder("", now).is_empty());
    }

    #[test]
    fn an_identifier_is_a_number_a_chip_or_an_insz() {
        let now = Utc::now();
        let found = |id: &str| pass_by_identifier(id, now).map(|p| p.number);
        assert_eq!(found("0900000067513").as_deref(), Some("0900000067513"));
        assert_eq!(found("04363cdaee3880").as_deref(), Some("0900000067513"));
        assert_eq!(found("36.05.13-802.84").as_deref(), Some("0900000067513"));
        assert_eq!(found("0900000067514"), None, "check digit");
        assert_eq!(found("04363CDAEE3881"), None);
        assert_eq!(found("36051380285"), None);
        let child = pass_by_identifier(FAMILY_CHILD_INSZ, now).unwrap();
        let parent = pass_by_identifier("80010170282", now).unwrap();
        assert_eq!(child.number, parent.number);
        assert_ne!(child.holder, parent.holder);
    }

    #[test]
    fn the_day_period_starts_at_midnight() {
        let now = Utc.with_ymd_and_hms(2026, 11, 23, 15, 4, 5).unwrap();
        assert_eq!(
            Period::Day.since(now),
            Utc.with_ymd_and_hms(2026, 11, 23, 0, 0, 0).unwrap()
        );
        assert_eq!(Period::Week.since(now), now - Duration::days(7));
    }
}
