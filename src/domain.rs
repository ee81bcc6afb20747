//! Types that make bad states unrepresentable, converted at the edge and used everywhere behind it.

use std::fmt;

/// A UiTPAS number: 13 ASCII digits whose last digit is a Luhn check digit.
///
/// Every number in publiq's test dataset passes the checksum, so a mistyped number can be refused
/// without asking UiTPAS. The value is personal data: `Display` and `Debug` show it masked
/// (`0900****7513`); [`UitpasNumber::as_str`] gives the full number for upstream calls.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UitpasNumber(String);

/// Why a string is not a UiTPAS number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum UitpasNumberError {
    #[error("a UiTPAS number has 13 digits")]
    Length,
    #[error("a UiTPAS number has only digits")]
    NotDigits,
    #[error("the check digit of this UiTPAS number is wrong (mistyped?)")]
    Checksum,
}

impl UitpasNumber {
    pub const LEN: usize = 13;

    /// Parses a UiTPAS number, allowing the spaces a person may type between digit groups.
    pub fn parse(input: &str) -> Result<Self, UitpasNumberError> {
        let digits: String = input.chars().filter(|c| !c.is_whitespace()).collect();
        if !digits.chars().all(|c| c.is_ascii_digit()) {
            return Err(UitpasNumberError::NotDigits);
        }
        if digits.len() != Self::LEN {
            return Err(UitpasNumberError::Length);
        }
        if !luhn_valid(&digits) {
            return Err(UitpasNumberError::Checksum);
        }
        Ok(Self(digits))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The number as an integer: a compact key for caches (13 digits fit in a `u64`).
    pub fn key(&self) -> u64 {
        self.0.bytes().fold(0, |acc, b| acc * 10 + u64::from(b - b'0'))
    }

    /// The masked form for logs and messages: the first and last four digits.
    pub fn masked(&self) -> String {
        mask(&self.0)
    }
}

impl fmt::Display for UitpasNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

impl fmt::Debug for UitpasNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "UitpasNumber({})", self.masked())
    }
}

/// Masks anything that may be a UiTPAS number: keeps the first and last four characters of a
/// 13-character value and hides the rest; shorter values are hidden entirely.
pub fn mask(value: &str) -> String {
    let chars: Vec<char> = value.chars().collect();
    if chars.len() < 9 {
        return "*".repeat(chars.len());
    }
    let head: String = chars[..4].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}****{tail}")
}

/// The Luhn (mod 10) checksum over a string of ASCII digits, the check digit last.
pub fn luhn_valid(digits: &str) -> bool {
    let mut sum = 0u32;
    for (i, c) in digits.bytes().rev().enumerate() {
        if !c.is_ascii_digit() {
            return false;
        }
        let mut d = u32::from(c - b'0');
        if i % 2 == 1 {
            d *= 2;
            if d > 9 {
                d -= 9;
            }
        }
        sum += d;
    }
    !digits.is_empty() && sum.is_multiple_of(10)
}

/// A UiTdatabank event id: a UUID, kept in its canonical lowercase form.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct EventId(String);

impl EventId {
    pub fn parse(input: &str) -> Result<Self, EventIdError> {
        uuid::Uuid::parse_str(input.trim())
            .map(|u| Self(u.hyphenated().to_string()))
            .map_err(|_| EventIdError)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a UiTdatabank event id (a UUID such as 5a0967f9-cc06-4c3c-9206-30481a767434)")]
pub struct EventIdError;

/// An amount of money in euros, kept as whole cents. JSON carries it as a number of euros
/// (`12.5`), like UiTPAS; more than two decimals, negative amounts and absurd ones are refused.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Money(i64);

/// Why a value is not an amount of money.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("an amount in euros, like 12.50")]
    NotANumber,
    #[error("an amount of at least 0")]
    Negative,
    #[error("an amount with at most two decimals (whole cents)")]
    FractionOfCent,
    #[error("an amount of at most 1000000 euros")]
    TooLarge,
}

impl Money {
    pub const MAX_CENTS: i64 = 100_000_000;

    pub fn from_cents(cents: i64) -> Result<Self, MoneyError> {
        if cents < 0 {
            Err(MoneyError::Negative)
        } else if cents > Self::MAX_CENTS {
            Err(MoneyError::TooLarge)
        } else {
            Ok(Self(cents))
        }
    }

    pub fn from_euros(euros: f64) -> Result<Self, MoneyError> {
        if !euros.is_finite() {
            return Err(MoneyError::NotANumber);
        }
        if euros < 0.0 {
            return Err(MoneyError::Negative);
        }
        if euros > (Self::MAX_CENTS / 100) as f64 {
            return Err(MoneyError::TooLarge);
        }
        let cents = (euros * 100.0).round();
        if (euros * 100.0 - cents).abs() > 1e-6 {
            return Err(MoneyError::FractionOfCent);
        }
        Self::from_cents(cents as i64)
    }

    pub fn cents(self) -> i64 {
        self.0
    }

    pub fn euros(self) -> f64 {
        self.0 as f64 / 100.0
    }

    /// `quantity` times this amount.
    pub fn times(self, quantity: u32) -> Money {
        Money(self.0.saturating_mul(i64::from(quantity)))
    }
}

impl std::str::FromStr for Money {
    type Err = MoneyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        // Only plain decimal notation: no exponents, signs other than '-', or "inf".
        if s.is_empty() || !s.chars().all(|c| c.is_ascii_digit() || c == '.' || c == '-') {
            return Err(MoneyError::NotANumber);
        }
        let euros: f64 = s.parse().map_err(|_| MoneyError::NotANumber)?;
        Self::from_euros(euros)
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:02}", self.0 / 100, self.0 % 100)
    }
}

impl fmt::Debug for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Money({self})")
    }
}

impl serde::Serialize for Money {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_f64(self.euros())
    }
}

impl<'de> serde::Deserialize<'de> for Money {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let euros = f64::deserialize(deserializer)?;
        Money::from_euros(euros).map_err(|e| serde::de::Error::custom(format!("expected {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DATASET: [&str; 16] = [
        "0900000095902",
        "0900000067513",
        "0900000031618",
        "0900010959113",
        "0900000002312",
        "0900000058918",
        "1000000520006",
        "0900000093204",
        "0900004518305",
        "0900011902815",
        "0900011903417",
        "0900000074519",
        "0900000020405",
        "0900000045410",
        "0900000191800",
        // No longer in publiq's dataset, still played by the sandbox.
        "0900000036112",
    ];

    #[test]
    fn every_number_of_the_test_dataset_parses() {
        for n in DATASET {
            assert_eq!(UitpasNumber::parse(n).unwrap().as_str(), n);
        }
    }

    #[test]
    fn a_mistyped_digit_fails_the_checksum() {
        assert_eq!(UitpasNumber::parse("0900000067514"), Err(UitpasNumberError::Checksum));
        // Two neighbouring digits swapped.
        assert_eq!(UitpasNumber::parse("0900000065713"), Err(UitpasNumberError::Checksum));
    }

    #[test]
    fn wrong_length_and_letters_are_refused() {
        assert_eq!(UitpasNumber::parse("090000006751"), Err(UitpasNumberError::Length));
        assert_eq!(UitpasNumber::parse("09000000675133"), Err(UitpasNumberError::Length));
        assert_eq!(UitpasNumber::parse(""), Err(UitpasNumberError::Length));
        assert_eq!(UitpasNumber::parse("09000000675l3"), Err(UitpasNumberError::NotDigits));
        assert_eq!(UitpasNumber::parse("-900000067513"), Err(UitpasNumberError::NotDigits));
    }

    #[test]
    fn spaces_between_digit_groups_are_allowed() {
        let n = UitpasNumber::parse("0900 0000 6751 3").unwrap();
        assert_eq!(n.as_str(), "0900000067513");
    }

    #[test]
    fn money_keeps_whole_cents_and_refuses_the_rest() {
        assert_eq!("12.50".parse::<Money>().unwrap().cents(), 1250);
        assert_eq!("0".parse::<Money>().unwrap().cents(), 0);
        assert_eq!(Money::from_euros(0.1 + 0.2).unwrap().cents(), 30);
        assert_eq!("12.505".parse::<Money>(), Err(MoneyError::FractionOfCent));
        assert_eq!("-1".parse::<Money>(), Err(MoneyError::Negative));
        assert_eq!("1e3".parse::<Money>(), Err(MoneyError::NotANumber));
        assert_eq!("NaN".parse::<Money>(), Err(MoneyError::NotANumber));
        assert_eq!("2000000".parse::<Money>(), Err(MoneyError::TooLarge));
        assert_eq!(Money::from_cents(205).unwrap().to_string(), "2.05");
        assert_eq!(serde_json::to_string(&Money::from_cents(250).unwrap()).unwrap(), "2.5");
        assert!(serde_json::from_str::<Money>("-0.5").is_err());
    }

    #[test]
    fn the_integer_key_is_the_number() {
        assert_eq!(UitpasNumber::parse("0900000067513").unwrap().key(), 900_000_067_513);
        assert_eq!(UitpasNumber::parse("1000000520006").unwrap().key(), 1_000_000_520_006);
    }

    #[test]
    fn event_ids_are_uuids_in_canonical_form() {
        let id = EventId::parse("5A0967F9-CC06-4C3C-9206-30481A767434").unwrap();
        assert_eq!(id.as_str(), "5a0967f9-cc06-4c3c-9206-30481a767434");
        assert!(EventId::parse("42").is_err());
        assert!(EventId::parse("").is_err());
    }

    #[test]
    fn display_and_debug_never_show_the_whole_number() {
        let n = UitpasNumber::parse("0900000067513").unwrap();
        assert_eq!(n.to_string(), "0900****7513");
        assert_eq!(format!("{n:?}"), "UitpasNumber(0900****7513)");
        assert_eq!(mask("1234"), "****");
    }
}
