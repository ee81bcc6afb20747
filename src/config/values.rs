//! The kinds of the settings that are more than a string or a number, read from their text.

use std::str::FromStr;
use std::time::Duration;

use clap::ValueEnum;

/// A comma-separated list of browser origins allowed by CORS (`PUBLIC_ORIGINS`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Origins(pub Vec<String>);

impl FromStr for Origins {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut origins = Vec::new();
        for origin in s.split(',').map(str::trim).filter(|o| !o.is_empty()) {
            if origin == "*" {
                origins.push(origin.to_owned());
                continue;
            }
            let trimmed = origin.trim_end_matches('/');
            let host = trimmed
                .strip_prefix("https://")
                .or_else(|| trimmed.strip_prefix("http://"));
            let ok = host.is_some_and(|h| !h.is_empty() && !h.contains(['/', '?', '#']));
            if !ok {
                return Err(format!("{origin:?} is not an origin like https://shop.example"));
            }
            origins.push(origin.trim_end_matches('/').to_owned());
        }
        Ok(Origins(origins))
    }
}

/// A duration written as seconds (`90`) or with a unit: `500ms`, `30s`, `15m`, `24h`, `1d`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HumanDuration(pub Duration);

impl FromStr for HumanDuration {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
        let (number, unit) = s.split_at(split);
        let n: u64 = number
            .parse()
            .map_err(|_| format!("{s:?} is not a duration like 30s, 15m, 24h or 1d"))?;
        let d = match unit.trim() {
            "ms" => Duration::from_millis(n),
            "" | "s" => Duration::from_secs(n),
            "m" => Duration::from_secs(n * 60),
            "h" => Duration::from_secs(n * 3600),
            "d" => Duration::from_secs(n * 86_400),
            _ => return Err(format!("{s:?} has an unknown unit (ms, s, m, h or d)")),
        };
        Ok(HumanDuration(d))
    }
}

/// The time of day of the daily reconciliation (`RECONCILE_AT`), in UTC; `None`: off.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReconcileAt(pub Option<chrono::NaiveTime>);

impl FromStr for ReconcileAt {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("off") {
            return Ok(ReconcileAt(None));
        }
        chrono::NaiveTime::parse_from_str(s, "%H:%M")
            .map(|t| ReconcileAt(Some(t)))
            .map_err(|_| format!("{s:?} is not a time like 03:00 (UTC) or off"))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Json,
    Pretty,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum AppEnv {
    Development,
    Production,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_with_and_without_units() {
        assert_eq!("90".parse::<HumanDuration>().unwrap().0, Duration::from_secs(90));
        assert_eq!("1d".parse::<HumanDuration>().unwrap().0, Duration::from_secs(86_400));
        assert_eq!("250ms".parse::<HumanDuration>().unwrap().0, Duration::from_millis(250));
        assert!("1w".parse::<HumanDuration>().is_err());
        assert!("soon".parse::<HumanDuration>().is_err());
    }

    #[test]
    fn origins_must_be_origins() {
        let o: Origins = "https://shop.example, http://localhost:3000/".parse().unwrap();
        assert_eq!(o.0, ["https://shop.example", "http://localhost:3000"]);
        assert!("https://shop.example/checkout".parse::<Origins>().is_err());
        assert!("shop.example".parse::<Origins>().is_err());
    }
}
