//! The console's HTML: one layout, escaping, the two languages (Dutch first), money and ages, and
//! the sales chart as inline SVG. Pages are rendered on the server; they need no script at all.

use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, NaiveDate, Utc};

use super::auth;

/// The language cookie's name.
pub const LANG_COOKIE: &str = "uc_console_lang";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Nl,
    En,
}

impl Lang {
    pub fn of(headers: &HeaderMap) -> Lang {
        match auth::cookie(headers, LANG_COOKIE).as_deref() {
            Some("en") => Lang::En,
            _ => Lang::Nl,
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Lang::Nl => "nl",
            Lang::En => "en",
        }
    }
}

/// Every text of the console: key, Dutch, English.
const TEXTS: &[(&str, &str, &str)] = &[
    ("console", "Console", "Console"),
    ("skip", "Naar de inhoud", "Skip to content"),
    ("nav", "Hoofdmenu", "Main menu"),
    ("work", "Openstaand werk", "Unsettled work"),
    ("registrations", "Registraties", "Registrations"),
    ("sales", "Verkopen", "Ticket sales"),
    ("events", "Evenementen", "Events"),
    ("reconciliation", "Afstemming met UiTPAS", "Reconciliation with UiTPAS"),
    ("webhooks", "Webhooks", "Webhooks"),
    ("logout", "Afmelden", "Log out"),
    ("language", "Taal", "Language"),
    ("login_title", "Aanmelden bij de console", "Log in to the console"),
    ("operator_key", "Operatorsleutel", "Operator key"),
    ("login", "Aanmelden", "Log in"),
    (
        "login_help",
        "De sleutel staat in OPERATOR_KEYS; in ontwikkeling drukt de service er bij de start één af.",
        "The key is one of OPERATOR_KEYS; in development the service prints one at start.",
    ),
    ("login_wrong", "Die sleutel is niet juist.", "That key is not right."),
    (
        "console_off",
        "De console staat uit: OPERATOR_KEYS is niet ingesteld.",
        "The console is off: OPERATOR_KEYS is not set.",
    ),
    (
        "csrf",
        "Het formulier was verlopen; probeer opnieuw.",
        "The form had expired; try again.",
    ),
    ("needs_attention", "Vraagt aandacht", "Needs attention"),
    (
        "needs_attention_help",
        "UiTPAS weigerde de sleutels of de rechten van de service, of een annulering: los de oorzaak op en probeer opnieuw, of geef het op.",
        "UiTPAS refused the service's credentials or permission, or a cancellation: fix the cause and retry, or abandon it.",
    ),
    (
        "pending_registrations",
        "Registraties in behandeling",
        "Pending registrations",
    ),
    ("cancelling", "Annuleringen in behandeling", "Cancellations in progress"),
    ("held", "Openstaande holds", "Open holds"),
    ("other_work", "Ander werk", "Other work"),
    ("kind", "Soort", "Kind"),
    ("subject", "Onderwerp", "Subject"),
    ("order", "Bestelling", "Order"),
    ("age", "Leeftijd", "Age"),
    ("attempts", "Pogingen", "Attempts"),
    ("next_attempt", "Volgende poging", "Next attempt"),
    ("last_error", "Laatste fout", "Last error"),
    ("problem", "Probleem", "Problem"),
    ("actions", "Acties", "Actions"),
    ("retry", "Opnieuw proberen", "Retry"),
    ("retry_now", "Nu proberen", "Retry now"),
    ("abandon", "Opgeven", "Abandon"),
    ("expires", "Verloopt", "Expires"),
    ("none", "Geen.", "None."),
    (
        "done_retried",
        "Het werk is opnieuw ingepland.",
        "The work is due again.",
    ),
    ("done_abandoned", "Het werk is opgegeven.", "The work was abandoned."),
    (
        "done_nothing",
        "Niets gedaan: het werk stond niet (meer) zo.",
        "Nothing done: the work was not (or no longer) in that state.",
    ),
    ("search", "Zoeken", "Search"),
    (
        "search_help",
        "bestelling, UiTPAS-nummer, id",
        "order, UiTPAS number, id",
    ),
    ("status", "Status", "Status"),
    ("all", "alle", "all"),
    ("event", "Evenement", "Event"),
    ("from", "Van", "From"),
    ("to", "Tot", "To"),
    ("filter", "Filteren", "Filter"),
    ("created", "Aangemaakt", "Created"),
    ("sales_count", "Verkopen", "Sales"),
    ("pass", "UiTPAS", "UiTPAS"),
    ("tariff", "Tarief", "Tariff"),
    ("regular", "Gewone prijs", "Regular price"),
    ("tariff_price", "Prijs met UiTPAS", "Price with UiTPAS"),
    ("paid", "Betaald", "Paid"),
    ("uitpas_id", "UiTPAS-id", "UiTPAS id"),
    ("results", "resultaten", "results"),
    ("previous", "Vorige", "Previous"),
    ("next", "Volgende", "Next"),
    ("active_sales", "Actieve verkopen", "Active sales"),
    ("first_sale", "Eerste verkoop", "First sale"),
    ("last_sale", "Laatste verkoop", "Last sale"),
    ("by_day", "Verkopen per dag", "Sales by day"),
    ("by_tariff", "Per soort tarief", "By kind of tariff"),
    ("count", "Aantal", "Count"),
    ("SOCIALTARIFF", "Kansentarief", "Social tariff"),
    ("COUPON", "Kortingsbon", "Coupon"),
    ("unknown_tariff", "Onbekend", "Unknown"),
    ("total", "Totaal", "Total"),
    (
        "regular_vs_paid",
        "Gewone prijs tegenover betaald",
        "Regular price against paid",
    ),
    (
        "discount",
        "Korting (gewone prijs min prijs met UiTPAS)",
        "Discount (regular price less price with UiTPAS)",
    ),
    (
        "paid_help",
        "Betaald: wat de webshop als betaald opgaf (paidPrice), anders de prijs met UiTPAS.",
        "Paid: what the shop said was paid (paidPrice), else the price with UiTPAS.",
    ),
    ("reconcile_now", "Nu afstemmen met UiTPAS", "Reconcile with UiTPAS now"),
    ("reports", "Rapporten", "Reports"),
    ("report", "Rapport", "Report"),
    ("trigger", "Aanleiding", "Trigger"),
    ("daily", "dagelijks", "daily"),
    ("by_console", "console", "console"),
    ("calls", "Oproepen", "Calls"),
    ("uitpas_sales", "Verkopen bij UiTPAS", "Sales at UiTPAS"),
    ("note", "Opmerking", "Note"),
    ("csv", "CSV downloaden", "Download CSV"),
    ("matched", "In orde", "Matched"),
    (
        "missing_at_uitpas",
        "Ontbreekt bij UiTPAS (daar geannuleerd)",
        "Missing at UiTPAS (cancelled there)",
    ),
    (
        "missing_at_uitpas_help",
        "Hier geregistreerd, niet (meer) in de lijst van actieve verkopen van UiTPAS: geannuleerd bij UiTPAS (een kassa, de organisator) of er nooit geweest.",
        "Registered here, not (or no longer) in UiTPAS's list of active sales: cancelled at UiTPAS (a box office, the organizer) or never there.",
    ),
    (
        "active_at_uitpas",
        "Hier geannuleerd, actief bij UiTPAS",
        "Cancelled here, active at UiTPAS",
    ),
    (
        "active_at_uitpas_help",
        "Hier geannuleerd, maar UiTPAS telt de verkoop nog.",
        "Cancelled here, but UiTPAS still counts the sale.",
    ),
    (
        "unknown_ours",
        "Onbekend, maar van ons (dubbel)",
        "Unknown, but ours (a double)",
    ),
    (
        "unknown_ours_help",
        "Bij UiTPAS met de markering van een van onze verkopen, onder een ander id: een dubbele registratie, of een die de worker nog overneemt.",
        "At UiTPAS with the marker of one of our sales, under another id: a double registration, or one the worker has yet to adopt.",
    ),
    (
        "unknown_other",
        "Onbekend, van een andere klant",
        "Unknown, another client's",
    ),
    (
        "unknown_other_help",
        "Bij UiTPAS zonder markering van ons: een kassa of een andere webshop.",
        "At UiTPAS without a marker of ours: a box office or another shop.",
    ),
    (
        "unsettled",
        "Bij UiTPAS, hier nog niet afgehandeld",
        "At UiTPAS, not settled here yet",
    ),
    (
        "unsettled_help",
        "Hier gekend en actief bij UiTPAS, terwijl het werk eraan nog loopt: een annulering onderweg of een die UiTPAS weigerde (zie Werk).",
        "Known here and active at UiTPAS while its work goes on: a cancellation in flight, or one UiTPAS refused (see Work).",
    ),
    (
        "other_customer",
        "Van een andere klant van deze service",
        "Another customer of this service",
    ),
    (
        "other_customer_help",
        "Een verkoop die een andere klant van deze service registreerde; diens eigen rapport beoordeelt hem.",
        "A sale another customer of this service registered; that customer's own report judges it.",
    ),
    (
        "balance_help",
        "UiTPAS telt {uitpas} verkopen; {lines} staan op een regel hieronder (alles behalve 'ontbreekt bij UiTPAS').",
        "UiTPAS counts {uitpas} sales; {lines} are on a line below (every kind but 'missing at UiTPAS').",
    ),
    ("customer", "Klant", "Customer"),
    ("running", "bezig", "running"),
    ("complete", "volledig", "complete"),
    ("inconclusive", "onbeslist", "inconclusive"),
    ("failed", "mislukt", "failed"),
    ("reconcile_event", "Eén evenement afstemmen", "Reconcile one event"),
    (
        "reconcile_help",
        "Elke dag om RECONCILE_AT (UTC) stemt de service alle evenementen af; hier kan het voor één evenement, nu.",
        "Every day at RECONCILE_AT (UTC) the service reconciles every event; here you can do it for one event, now.",
    ),
    (
        "running_help",
        "De afstemming loopt nog: vernieuw de pagina.",
        "The reconciliation is still running: reload the page.",
    ),
    ("refresh", "Vernieuwen", "Reload"),
    ("amount_regular", "Gewone prijs samen", "Regular price, total"),
    ("amount_tariff", "Prijs met UiTPAS samen", "Price with UiTPAS, total"),
    ("label", "Label", "Label"),
    ("ticket_sale", "Verkoop", "Ticket sale"),
    (
        "webhooks_none",
        "Nog geen webhooks: ze worden verstuurd wanneer WEBHOOK_URL ingesteld is.",
        "No webhooks yet: they are sent when WEBHOOK_URL is set.",
    ),
    ("webhooks_count", "Webhookleveringen", "Webhook deliveries"),
    ("webhook_type", "Gebeurtenis", "Event"),
    ("webhook_state", "Levering", "Delivery"),
    ("webhook_attempts", "Pogingen", "Attempts"),
    ("webhook_last", "Laatste antwoord", "Last answer"),
    ("not_found", "Niet gevonden.", "Not found."),
    ("pending", "in behandeling", "pending"),
    ("registered", "geregistreerd", "registered"),
    ("rejected", "geweigerd", "rejected"),
    ("cancelled", "geannuleerd", "cancelled"),
    ("needs-attention", "vraagt aandacht", "needs attention"),
    ("released", "vrijgegeven", "released"),
    ("expired", "verlopen", "expired"),
    ("confirmed", "bevestigd", "confirmed"),
    ("hold", "Hold", "Hold"),
    ("register", "registratie", "registration"),
    ("cancel", "annulering", "cancellation"),
    ("create_event", "evenement aanmaken", "create event"),
    ("end_hold", "hold beëindigen", "end hold"),
    ("discrepancies", "Verschillen", "Discrepancies"),
];

/// The text of `key` in `lang` (the key itself when it has none).
pub fn t(lang: Lang, key: &str) -> String {
    TEXTS.iter().find(|(k, ..)| *k == key).map_or_else(
        || key.to_owned(),
        |(_, nl, en)| match lang {
            Lang::Nl => (*nl).to_owned(),
            Lang::En => (*en).to_owned(),
        },
    )
}

/// HTML-escapes text for element content and quoted attributes.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
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

/// An amount of euro cents: `€ 1.234,50` in Dutch, `€1,234.50` in English.
pub fn money(lang: Lang, cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let cents = cents.unsigned_abs();
    let euros = (cents / 100).to_string();
    let (thousands, decimal) = match lang {
        Lang::Nl => ('.', ','),
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
        Lang::En => format!("{sign}€{grouped}{decimal}{:02}", cents % 100),
    }
}

/// How long ago, shortly: `45 s`, `12 min`, `3 u` / `3 h`, `2 d`.
pub fn age(lang: Lang, seconds: f64) -> String {
    let s = seconds.max(0.0) as u64;
    let hour = if lang == Lang::Nl { "u" } else { "h" };
    match s {
        0..=119 => format!("{s}\u{a0}s"),
        120..=7199 => format!("{}\u{a0}min", s / 60),
        7200..=172_799 => format!("{}\u{a0}{hour}", s / 3600),
        _ => format!("{}\u{a0}d", s / 86_400),
    }
}

pub fn when(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// The layout around every page but the login: the menu, the language switch, the log-out form.
pub fn page(lang: Lang, title: &str, active: &str, csrf: &str, flash: Option<&str>, body: &str) -> String {
    let mut nav = String::new();
    for (path, key) in [
        ("/console/work", "work"),
        ("/console/registrations", "registrations"),
        ("/console/sales", "sales"),
        ("/console/events", "events"),
        ("/console/reconciliation", "reconciliation"),
        ("/console/webhooks", "webhooks"),
    ] {
        let current = if key == active { r#" aria-current="page""# } else { "" };
        nav.push_str(&format!(
            r#"<li><a href="{path}"{current}>{}</a></li>"#,
            esc(&t(lang, key))
        ));
    }
    let flash = flash.map_or(String::new(), |f| {
        format!(r#"<p class="flash" role="status" data-testid="flash">{}</p>"#, esc(f))
    });
    let other = match lang {
        Lang::Nl => r#"<a href="/console/lang/en" lang="en" hreflang="en" data-testid="lang-switch">English</a>"#,
        Lang::En => r#"<a href="/console/lang/nl" lang="nl" hreflang="nl" data-testid="lang-switch">Nederlands</a>"#,
    };
    format!(
        r##"<!doctype html>
<html lang="{code}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · uitpas-checkout</title>
<link rel="stylesheet" href="/console/console.css">
</head>
<body>
<a class="skip" href="#main">{skip}</a>
<header>
<p class="brand">uitpas-checkout · {console}</p>
<nav aria-label="{navlabel}"><ul>{nav}</ul></nav>
<div class="tools">{other}
<form method="post" action="/console/logout"><input type="hidden" name="csrf" value="{csrf}"><button type="submit" data-testid="logout">{logout}</button></form>
</div>
</header>
<main id="main">
<h1>{title}</h1>
{flash}{body}
</main>
</body>
</html>
"##,
        code = lang.code(),
        title = esc(title),
        skip = esc(&t(lang, "skip")),
        console = esc(&t(lang, "console")),
        navlabel = esc(&t(lang, "nav")),
        csrf = esc(csrf),
        logout = esc(&t(lang, "logout")),
    )
}

/// The login page (no menu).
pub fn login_page(lang: Lang, error: Option<&str>, off: bool) -> String {
    let error = error.map_or(String::new(), |e| {
        format!(
            r#"<p class="error" role="alert" data-testid="login-error">{}</p>"#,
            esc(e)
        )
    });
    let form = if off {
        format!(r#"<p class="error" role="alert">{}</p>"#, esc(&t(lang, "console_off")))
    } else {
        format!(
            r#"<form method="post" action="/console/login" class="login">
<label for="key">{label}</label>
<input id="key" name="key" type="password" autocomplete="current-password" required minlength="16" aria-describedby="key-help">
<p id="key-help" class="help">{help}</p>
<button type="submit">{login}</button>
</form>"#,
            label = esc(&t(lang, "operator_key")),
            help = esc(&t(lang, "login_help")),
            login = esc(&t(lang, "login")),
        )
    };
    let other = match lang {
        Lang::Nl => r#"<a href="/console/lang/en" lang="en" hreflang="en" data-testid="lang-switch">English</a>"#,
        Lang::En => r#"<a href="/console/lang/nl" lang="nl" hreflang="nl" data-testid="lang-switch">Nederlands</a>"#,
    };
    format!(
        r#"<!doctype html>
<html lang="{code}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · uitpas-checkout</title>
<link rel="stylesheet" href="/console/console.css">
</head>
<body class="narrow">
<main id="main">
<h1>{title}</h1>
{error}{form}
<p>{other}</p>
</main>
</body>
</html>
"#,
        code = lang.code(),
        title = esc(&t(lang, "login_title")),
    )
}

/// An HTML answer with the console's headers: no caching, no framing, no script, no referrer.
pub fn html(body: String) -> Response {
    let mut response = ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], body).into_response();
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

/// Sales by day as an inline SVG bar chart: one bar per day from the first to the last day with
/// sales (days without sales are bars of nothing), with a text alternative.
pub fn chart(lang: Lang, days: &[(NaiveDate, i64)]) -> String {
    let (Some(first), Some(last)) = (days.first().map(|d| d.0), days.last().map(|d| d.0)) else {
        return format!("<p>{}</p>", esc(&t(lang, "none")));
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
    let mut svg = format!(
        r#"<figure class="chart"><svg viewBox="0 0 {width} {height}" width="100%" role="img" aria-labelledby="chart-title" data-testid="sales-chart"><title id="chart-title">{title}</title>"#,
        title = esc(&t(lang, "by_day")),
    );
    // The axis: zero and the maximum.
    svg.push_str(&format!(
        r##"<line x1="{left}" y1="{y0}" x2="{x1}" y2="{y0}" stroke="#555"/><text x="{lx}" y="{y0}" font-size="11" text-anchor="end" fill="#333">0</text><text x="{lx}" y="{ym}" font-size="11" text-anchor="end" fill="#333">{max}</text>"##,
        y0 = height - bottom,
        x1 = width - 5.0,
        lx = left - 4.0,
        ym = top + 10.0,
    ));
    let label_every = span.div_ceil(8).max(1);
    for (i, n) in counts.iter().enumerate() {
        let h = plot_h * (*n as f64) / (max as f64);
        let x = left + step * i as f64 + (step - bar) / 2.0;
        let y = height - bottom - h;
        let day = first + chrono::Duration::days(i as i64);
        svg.push_str(&format!(
            r##"<rect x="{x:.1}" y="{y:.1}" width="{bar:.1}" height="{h:.1}" fill="#1f5f8b" data-day="{day}" data-count="{n}"><title>{day}: {n}</title></rect>"##
        ));
        if i % label_every == 0 {
            svg.push_str(&format!(
                r##"<text x="{cx:.1}" y="{ty}" font-size="11" text-anchor="middle" fill="#333">{label}</text>"##,
                cx = x + bar / 2.0,
                ty = height - bottom + 16.0,
                label = day.format("%m-%d"),
            ));
        }
    }
    svg.push_str("</svg>");
    // The same figures as a table, for screen readers and for copying.
    svg.push_str(&format!(
        r#"<details><summary>{}</summary><table><thead><tr><th scope="col">{}</th><th scope="col" class="num">{}</th></tr></thead><tbody>"#,
        esc(&t(lang, "by_day")),
        esc(&t(lang, "created")),
        esc(&t(lang, "count"))
    ));
    for (day, n) in days {
        svg.push_str(&format!(r#"<tr><td>{day}</td><td class="num">{n}</td></tr>"#));
    }
    svg.push_str("</tbody></table></details></figure>");
    svg
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
        assert_eq!(esc(r#"<a href="x">&'"#), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;");
    }

    #[test]
    fn every_text_has_both_languages_once() {
        let mut keys = std::collections::HashSet::new();
        for (key, nl, en) in TEXTS {
            assert!(keys.insert(*key), "{key} twice");
            assert!(!nl.is_empty() && !en.is_empty(), "{key}");
        }
    }

    #[test]
    fn the_chart_has_a_bar_per_day() {
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        let svg = chart(Lang::Nl, &[(d("2026-12-01"), 3), (d("2026-12-03"), 1)]);
        assert_eq!(svg.matches("<rect").count(), 3);
        assert!(svg.contains(r#"data-count="3""#));
    }
}
