//! The console's HTML: one layout, the three languages (Dutch first, then French and English),
//! money, ages and times (Europe/Brussels), and the sales chart as inline SVG. Pages are rendered
//! on the server with maud, which escapes every value by construction; they need no script at all.

use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, Utc};
use maud::{DOCTYPE, Markup, html as markup};

use super::auth;

/// The language cookie's name.
pub const LANG_COOKIE: &str = "uc_console_lang";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Nl,
    Fr,
    En,
}

impl Lang {
    pub const ALL: [Lang; 3] = [Lang::Nl, Lang::Fr, Lang::En];

    pub fn of(headers: &HeaderMap) -> Lang {
        Lang::parse(auth::cookie(headers, LANG_COOKIE).as_deref().unwrap_or(""))
    }

    /// A language's code; anything else is Dutch.
    pub fn parse(code: &str) -> Lang {
        match code {
            "fr" => Lang::Fr,
            "en" => Lang::En,
            _ => Lang::Nl,
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Lang::Nl => "nl",
            Lang::Fr => "fr",
            Lang::En => "en",
        }
    }

    /// The language's name in itself, for the switch.
    pub fn name(self) -> &'static str {
        match self {
            Lang::Nl => "Nederlands",
            Lang::Fr => "Français",
            Lang::En => "English",
        }
    }
}

/// The text of `key` in `lang` (the key itself when it has none).
pub fn t(lang: Lang, key: &str) -> String {
    if let Some((_, nl, en, fr)) = super::texts_rewards::TEXTS.iter().find(|(k, ..)| *k == key) {
        return match lang {
            Lang::Nl => nl,
            Lang::En => en,
            Lang::Fr => fr,
        }
        .to_string();
    }
    let Some((_, nl, en)) = super::texts::TEXTS.iter().find(|(k, ..)| *k == key) else {
        return key.to_owned();
    };
    match lang {
        Lang::Nl => (*nl).to_owned(),
        Lang::En => (*en).to_owned(),
        Lang::Fr => super::fr::TEXTS
            .iter()
            .find(|(k, _)| *k == key)
            .map_or(*en, |(_, fr)| *fr)
            .to_owned(),
    }
}

/// "1 result", "2 results": the count with the noun in the number it takes.
pub fn count_of(lang: Lang, n: i64, one: &str, many: &str) -> String {
    format!("{n}\u{a0}{}", t(lang, if n == 1 { one } else { many }))
}

/// Percent-encodes a query value.
pub fn qs(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// An amount of euro cents: `€ 1.234,50` in Dutch, `1.234,50 €` in French, `€1,234.50` in English.
pub fn money(lang: Lang, cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let cents = cents.unsigned_abs();
    let euros = (cents / 100).to_string();
    let (thousands, decimal) = match lang {
        Lang::Nl | Lang::Fr => ('.', ','),
        Lang::En => (',', '.'),
    };
    let mut grouped = String::new();
    for (i, c) in euros.chars().enumerate() {
        if i > 0 && (euros.len() - i).is_multiple_of(3) {
            grouped.push(thousands);
        }
        grouped.push(c);
    }
    match lang {
        Lang::Nl => format!("{sign}€\u{a0}{grouped}{decimal}{:02}", cents % 100),
        Lang::Fr => format!("{sign}{grouped}{decimal}{:02}\u{a0}€", cents % 100),
        Lang::En => format!("{sign}€{grouped}{decimal}{:02}", cents % 100),
    }
}

/// How long ago, shortly: `45 s`, `12 min`, `3 u` / `3 h`, `2 d` / `2 j`.
pub fn age(lang: Lang, seconds: f64) -> String {
    let s = seconds.max(0.0) as u64;
    let hour = if lang == Lang::Nl { "u" } else { "h" };
    let day = if lang == Lang::Fr { "j" } else { "d" };
    match s {
        0..=119 => format!("{s}\u{a0}s"),
        120..=7199 => format!("{}\u{a0}min", s / 60),
        7200..=172_799 => format!("{}\u{a0}{hour}", s / 3600),
        _ => format!("{}\u{a0}{day}", s / 86_400),
    }
}

/// The last Sunday of a month.
fn last_sunday(year: i32, month: u32) -> NaiveDate {
    let first_of_next = if month == 12 {
        NaiveDate::from_ymd_opt(year + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(year, month + 1, 1)
    }
    .unwrap_or_default();
    let last = first_of_next - Duration::days(1);
    last - Duration::days(i64::from(last.weekday().num_days_from_sunday()))
}

/// The time in Brussels and its zone's name: CEST (UTC+2) from the last Sunday of March 01:00
/// UTC to the last Sunday of October 01:00 UTC, CET (UTC+1) otherwise (the EU's rule since 1996).
pub fn brussels(at: DateTime<Utc>) -> (NaiveDateTime, &'static str) {
    let year = at.year();
    let at_one = |d: NaiveDate| d.and_hms_opt(1, 0, 0).unwrap_or_default().and_utc();
    let summer = at >= at_one(last_sunday(year, 3)) && at < at_one(last_sunday(year, 10));
    if summer {
        (at.naive_utc() + Duration::hours(2), "CEST")
    } else {
        (at.naive_utc() + Duration::hours(1), "CET")
    }
}

/// The start of a day in Brussels, as an instant.
pub fn brussels_midnight(day: NaiveDate) -> DateTime<Utc> {
    let local = day.and_hms_opt(0, 0, 0).unwrap_or_default();
    // The offset in force an hour before: the same as at midnight (the clocks move at 02:00/03:00).
    let guess = local.and_utc() - Duration::hours(1);
    let offset = brussels(guess).0 - guess.naive_utc();
    (local - offset).and_utc()
}

/// A moment as the operators read it: Brussels time, with its zone.
pub fn when(at: DateTime<Utc>) -> String {
    let (local, zone) = brussels(at);
    format!("{} {zone}", local.format("%Y-%m-%d %H:%M:%S"))
}

/// A moment in a `<time>` element: Brussels time shown, the instant in UTC for machines.
pub fn time(at: DateTime<Utc>) -> Markup {
    markup! { time datetime=(at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)) { (when(at)) } }
}

/// The links to the other languages; the first is `lang-switch` (from Dutch to English, from the
/// others to Dutch), the other `lang-<code>`.
fn switch(lang: Lang) -> Markup {
    let others = match lang {
        Lang::Nl => [Lang::En, Lang::Fr],
        Lang::Fr => [Lang::Nl, Lang::En],
        Lang::En => [Lang::Nl, Lang::Fr],
    };
    markup! {
        @for (i, other) in others.iter().enumerate() {
            @let testid = if i == 0 { "lang-switch".to_owned() } else { format!("lang-{}", other.code()) };
            a href={ "/console/lang/" (other.code()) } lang=(other.code()) hreflang=(other.code()) data-testid=(testid) { (other.name()) }
            " "
        }
    }
}

fn head(title: &str) -> Markup {
    markup! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            title { (title) " · uitpas-checkout" }
            link rel="stylesheet" href="/console/console.css";
        }
    }
}

/// The layout around every page but the login: the menu, the language switch, the log-out form.
pub fn page(lang: Lang, title: &str, active: &str, csrf: &str, flash: Option<&str>, body: Markup) -> Markup {
    const MENU: [(&str, &str); 9] = [
        ("/console/work", "work"),
        ("/console/registrations", "registrations"),
        ("/console/sales", "sales"),
        ("/console/rewards", "rewards"),
        ("/console/events", "events"),
        ("/console/reconciliation", "reconciliation"),
        ("/console/webhooks", "webhooks"),
        ("/console/reports", "financial_reports"),
        ("/console/permissions", "permissions"),
    ];
    markup! {
        (DOCTYPE)
        html lang=(lang.code()) {
            (head(title))
            body {
                a.skip href="#main" { (t(lang, "skip")) }
                header {
                    p.brand { "uitpas-checkout · " (t(lang, "console")) }
                    nav aria-label=(t(lang, "nav")) {
                        ul {
                            @for (path, key) in MENU {
                                li { a href=(path) aria-current=[(key == active).then_some("page")] { (t(lang, key)) } }
                            }
                        }
                    }
                    div.tools {
                        (switch(lang))
                        form method="post" action="/console/logout" {
                            input type="hidden" name="csrf" value=(csrf);
                            button type="submit" data-testid="logout" { (t(lang, "logout")) }
                        }
                    }
                }
                main #main {
                    h1 { (title) }
                    @if let Some(flash) = flash {
                        p.flash role="status" data-testid="flash" { (flash) }
                    }
                    (body)
                }
            }
        }
    }
}

/// The login page (no menu).
pub fn login_page(lang: Lang, error: Option<&str>, off: bool) -> Markup {
    let title = t(lang, "login_title");
    markup! {
        (DOCTYPE)
        html lang=(lang.code()) {
            (head(&title))
            body.narrow {
                main #main {
                    h1 { (title) }
                    @if let Some(error) = error {
                        p.error role="alert" data-testid="login-error" { (error) }
                    }
                    @if off {
                        p.error role="alert" { (t(lang, "console_off")) }
                    } @else {
                        form.login method="post" action="/console/login" {
                            label for="key" { (t(lang, "operator_key")) }
                            input #key name="key" type="password" autocomplete="current-password" required minlength="16" aria-describedby="key-help";
                            p #key-help .help { (t(lang, "login_help")) }
                            button type="submit" { (t(lang, "login")) }
                        }
                    }
                    p { (switch(lang)) }
                }
            }
        }
    }
}

/// An HTML answer with the console's headers: no caching, no framing, no script, no referrer.
pub fn html(body: Markup) -> Response {
    let mut response = ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], body.into_string()).into_response();
    secure_headers(response.headers_mut());
    response
}

pub fn secure_headers(headers: &mut HeaderMap) {
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
}

/// A table's head: a column a text key ([`t`]); a key that starts with `#` is a number's column,
/// aligned right (`th.num`).
pub fn table_head(lang: Lang, keys: &[&str]) -> Markup {
    markup! {
        thead { tr {
            @for key in keys {
                @if let Some(key) = key.strip_prefix('#') {
                    th.num scope="col" { (t(lang, key)) }
                } @else {
                    th scope="col" { (t(lang, key)) }
                }
            }
        } }
    }
}

/// Sales by day as an inline SVG bar chart: one bar per day from the first to the last day with
/// sales (days without sales are bars of nothing), with a text alternative.
pub fn chart(lang: Lang, days: &[(NaiveDate, i64)]) -> Markup {
    let (Some(first), Some(last)) = (days.first().map(|d| d.0), days.last().map(|d| d.0)) else {
        return markup! { p { (t(lang, "none")) } };
    };
    let span = usize::try_from((last - first).num_days()).unwrap_or(0).min(365) + 1;
    let mut counts = vec![0i64; span];
    for (day, n) in days {
        if let Ok(i) = usize::try_from((*day - first).num_days())
            && i < span
        {
            counts[i] = *n;
        }
    }
    let max = counts.iter().copied().max().unwrap_or(1).max(1);
    let (width, height, left, bottom, top) = (720.0, 220.0, 40.0, 30.0, 10.0);
    let plot_h = height - bottom - top;
    let step = (width - left - 10.0) / span as f64;
    let bar = (step * 0.8).max(1.0);
    let label_every = span.div_ceil(8).max(1);
    let bars = counts.iter().enumerate().map(|(i, n)| {
        let h = plot_h * (*n as f64) / (max as f64);
        let x = left + step * i as f64 + (step - bar) / 2.0;
        (i, *n, x, height - bottom - h, h, first + Duration::days(i as i64))
    });
    let f = |v: f64| format!("{v:.1}");
    markup! {
        figure.chart {
            svg viewBox={ "0 0 " (width) " " (height) } width="100%" role="img" aria-labelledby="chart-title" data-testid="sales-chart" {
                title #chart-title { (t(lang, "by_day")) }
                // The axis: zero and the maximum.
                line x1=(left) y1=(height - bottom) x2=(width - 5.0) y2=(height - bottom) stroke="#555" {}
                text x=(left - 4.0) y=(height - bottom) font-size="11" text-anchor="end" fill="#333" { "0" }
                text x=(left - 4.0) y=(top + 10.0) font-size="11" text-anchor="end" fill="#333" { (max) }
                @for (i, n, x, y, h, day) in bars {
                    rect x=(f(x)) y=(f(y)) width=(f(bar)) height=(f(h)) fill="#1f5f8b" data-day=(day) data-count=(n) {
                        title { (day) ": " (n) }
                    }
                    @if i % label_every == 0 {
                        text x=(f(x + bar / 2.0)) y=(height - bottom + 16.0) font-size="11" text-anchor="middle" fill="#333" { (day.format("%m-%d")) }
                    }
                }
            }
            // The same figures as a table, for screen readers and for copying.
            details {
                summary { (t(lang, "by_day")) }
                table {
                    (table_head(lang, &["day", "#count"]))
                    tbody {
                        @for (day, n) in days {
                            tr { td { (day) } td.num { (n) } }
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_reads_as_each_language_writes_it() {
        assert_eq!(money(Lang::Nl, 123_450), "€\u{a0}1.234,50");
        assert_eq!(money(Lang::En, 123_450), "€1,234.50");
        assert_eq!(money(Lang::Nl, 200), "€\u{a0}2,00");
        assert_eq!(money(Lang::En, -5), "-€0.05");
    }

    #[test]
    fn text_is_escaped() {
        let evil = r#"<a href="x">&'"#;
        let out = markup! { p title=(evil) { (evil) } }.into_string();
        let escaped = "&lt;a href=&quot;x&quot;&gt;&amp;'";
        assert_eq!(out, format!("<p title=\"{escaped}\">{escaped}</p>"));
    }

    #[test]
    fn brussels_time_follows_summer_time() {
        let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        assert_eq!(when(at("2026-01-15T12:00:00Z")), "2026-01-15 13:00:00 CET");
        assert_eq!(when(at("2026-07-01T12:00:00Z")), "2026-07-01 14:00:00 CEST");
        // 2026: summer time from Sunday 29 March 01:00 UTC to Sunday 25 October 01:00 UTC.
        assert_eq!(when(at("2026-03-29T00:59:59Z")), "2026-03-29 01:59:59 CET");
        assert_eq!(when(at("2026-03-29T01:00:00Z")), "2026-03-29 03:00:00 CEST");
        assert_eq!(when(at("2026-10-25T00:59:59Z")), "2026-10-25 02:59:59 CEST");
        assert_eq!(when(at("2026-10-25T01:00:00Z")), "2026-10-25 02:00:00 CET");
        // A late New Year's Eve in UTC is New Year's Day in Brussels.
        assert_eq!(when(at("2026-12-31T23:30:00Z")), "2027-01-01 00:30:00 CET");
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        assert_eq!(brussels_midnight(d("2026-01-15")), at("2026-01-14T23:00:00Z"));
        assert_eq!(brussels_midnight(d("2026-07-01")), at("2026-06-30T22:00:00Z"));
    }

    #[test]
    fn counts_take_the_number_of_their_noun() {
        assert_eq!(count_of(Lang::Nl, 1, "result", "results"), "1\u{a0}resultaat");
        assert_eq!(count_of(Lang::Nl, 2, "result", "results"), "2\u{a0}resultaten");
        assert_eq!(count_of(Lang::En, 1, "result", "results"), "1\u{a0}result");
    }

    #[test]
    fn every_text_has_its_three_languages_once() {
        let mut keys = std::collections::HashSet::new();
        for (key, nl, en) in super::super::texts::TEXTS {
            assert!(keys.insert(*key), "{key} twice");
            assert!(!nl.is_empty() && !en.is_empty(), "{key}");
        }
        let mut french = std::collections::HashSet::new();
        for (key, fr) in super::super::fr::TEXTS {
            assert!(french.insert(*key), "{key} twice in French");
            assert!(keys.contains(key), "{key}: French of no text");
            assert!(!fr.is_empty(), "{key}");
        }
        let missing: Vec<_> = keys.difference(&french).collect();
        assert!(missing.is_empty(), "no French for {missing:?}");
    }

    #[test]
    fn the_chart_has_a_bar_per_day() {
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        let svg = chart(Lang::Nl, &[(d("2026-12-01"), 3), (d("2026-12-03"), 1)]).into_string();
        assert_eq!(svg.matches("<rect").count(), 3);
        assert!(svg.contains(r#"data-count="3""#));
    }
}
