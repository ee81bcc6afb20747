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
    !digits.is_empty() && sum % 10 == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    const DATASET: [&str; 12] = [
        "0900000095902",
        "0900000067513",
        "0900000031618",
        "0900000036112",
        "0900000002312",
        "0900000058918",
        "1000000520006",
        "0900000093204",
        "0900000074519",
        "0900000075706",
        "0900000045410",
        "0900000191800",
    ];

    #[test]
    fn every_number_of_the_test_dataset_parses() {
        for n in DATASET {
            assert_eq!(UitpasNumber::parse(n).unwrap().as_str(), n);
        }
    }

    #[test]
    fn a_mistyped_digit_fails_the_checksum() {
        assert_eq!(
            UitpasNumber::parse("0900000067514"),
            Err(UitpasNumberError::Checksum)
        );
        // Two neighbouring digits swapped.
        assert_eq!(
            UitpasNumber::parse("0900000065713"),
            Err(UitpasNumberError::Checksum)
        );
    }

    #[test]
    fn wrong_length_and_letters_are_refused() {
        assert_eq!(
            UitpasNumber::parse("090000006751"),
            Err(UitpasNumberError::Length)
        );
        assert_eq!(
            UitpasNumber::parse("09000000675133"),
            Err(UitpasNumberError::Length)
        );
        assert_eq!(UitpasNumber::parse(""), Err(UitpasNumberError::Length));
        assert_eq!(
            UitpasNumber::parse("09000000675l3"),
            Err(UitpasNumberError::NotDigits)
        );
        assert_eq!(
            UitpasNumber::parse("-900000067513"),
            Err(UitpasNumberError::NotDigits)
        );
    }

    #[test]
    fn spaces_between_digit_groups_are_allowed() {
        let n = UitpasNumber::parse("0900 0000 6751 3").unwrap();
        assert_eq!(n.as_str(), "0900000067513");
    }

    #[test]
    fn display_and_debug_never_show_the_whole_number() {
        let n = UitpasNumber::parse("0900000067513").unwrap();
        assert_eq!(n.to_string(), "0900****7513");
        assert_eq!(format!("{n:?}"), "UitpasNumber(0900****7513)");
        assert_eq!(mask("1234"), "****");
    }
}
