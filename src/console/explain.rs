//! What UiTPAS's refusals and the worker's errors mean for an operator, and what to do about them,
//! in Dutch, French and English. The raw problem (publiq's `type`, its English `detail`) stays on
//! the page under "Technical", for publiq's helpdesk.

use serde_json::Value;

use super::html::Lang;

/// One explanation: what happened, and what the operator can do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Explanation {
    pub key: &'static str,
}

/// key, (what happened, what to do) in Dutch, French, English.
type Entry = (&'static str, [(&'static str, &'static str); 3]);

const EXPLANATIONS: &[Entry] = &[
    (
        "credentials",
        [
            (
                "UiTPAS of publiq's tokenserver weigerde de sleutels (client id en secret) van de service.",
                "Controleer de sleutels van de klant (UITPAS_CLIENT_ID en UITPAS_CLIENT_SECRET, of /v1/admin/customers) en de omgeving (test of productie); probeer daarna opnieuw.",
            ),
            (
                "UiTPAS ou le serveur de jetons de publiq a refusé les identifiants (client id et secret) du service.",
                "Vérifiez les identifiants du client (UITPAS_CLIENT_ID et UITPAS_CLIENT_SECRET, ou /v1/admin/customers) et l'environnement (test ou production) ; réessayez ensuite.",
            ),
            (
                "UiTPAS or publiq's token server refused the service's credentials (client id and secret).",
                "Check the customer's credentials (UITPAS_CLIENT_ID and UITPAS_CLIENT_SECRET, or /v1/admin/customers) and the environment (test or production); then retry.",
            ),
        ],
    ),
    (
        "forbidden",
        [
            (
                "UiTPAS zegt dat de service dit niet mag: de klant heeft geen recht om verkopen te registreren of te annuleren voor de organisator van dit evenement.",
                "Vraag publiq om de rechten (ticketverkoop) voor de organisator van het evenement en probeer daarna opnieuw. Kan dat niet, geef het dan op: de webshop hoort dat er geen kansentarief is.",
            ),
            (
                "UiTPAS dit que le service n'y est pas autorisé : le client n'a pas le droit d'enregistrer ou d'annuler des ventes pour l'organisateur de cet événement.",
                "Demandez à publiq les droits (vente de tickets) pour l'organisateur de l'événement, puis réessayez. Sinon, abandonnez : la boutique apprend qu'il n'y a pas de tarif social.",
            ),
            (
                "UiTPAS says the service may not do this: the customer has no permission to register or cancel sales for this event's organizer.",
                "Ask publiq for the permission (ticket sales) for the event's organizer, then retry. If that cannot be had, abandon it: the shop hears there is no social tariff.",
            ),
        ],
    ),
    (
        "maximum-reached",
        [
            (
                "De pashouder heeft het maximum aantal kansentarieven voor deze periode bereikt.",
                "Niets in de console: de webshop vraagt de gewone prijs of betaalt terug.",
            ),
            (
                "Le titulaire a atteint le nombre maximal de tarifs sociaux pour cette période.",
                "Rien à faire dans la console : la boutique demande le prix normal ou rembourse.",
            ),
            (
                "The passholder reached the most social tariffs allowed for this period.",
                "Nothing in the console: the shop charges the regular price or refunds.",
            ),
        ],
    ),
    (
        "pass",
        [
            (
                "UiTPAS kent deze pas niet, of ze is geblokkeerd of vervangen.",
                "Vraag de koper om het nummer van een geldige pas; de webshop vraagt anders de gewone prijs.",
            ),
            (
                "UiTPAS ne connaît pas cette carte, ou elle est bloquée ou remplacée.",
                "Demandez à l'acheteur le numéro d'une carte valide ; sinon la boutique demande le prix normal.",
            ),
            (
                "UiTPAS does not know this pass, or it is blocked or replaced.",
                "Ask the buyer for the number of a valid pass; otherwise the shop charges the regular price.",
            ),
        ],
    ),
    (
        "tariff",
        [
            (
                "Het kansentarief geldt niet (meer) voor deze pashouder of dit evenement (verlopen kansenstatuut, ander tarief).",
                "Niets in de console: de webshop vraagt de gewone prijs of betaalt terug.",
            ),
            (
                "Le tarif social ne s'applique pas (plus) à ce titulaire ou à cet événement (statut expiré, autre tarif).",
                "Rien à faire dans la console : la boutique demande le prix normal ou rembourse.",
            ),
            (
                "The social tariff does not (or no longer) apply to this passholder or event (an expired status, another tariff).",
                "Nothing in the console: the shop charges the regular price or refunds.",
            ),
        ],
    ),
    (
        "event",
        [
            (
                "UiTPAS kent het evenement niet, of het doet niet mee aan UiTPAS.",
                "Controleer het evenement in UiTdatabank (organisator, UiTPAS-label); de webshop vraagt de gewone prijs.",
            ),
            (
                "UiTPAS ne connaît pas l'événement, ou il ne participe pas à UiTPAS.",
                "Vérifiez l'événement dans UiTdatabank (organisateur, label UiTPAS) ; la boutique demande le prix normal.",
            ),
            (
                "UiTPAS does not know the event, or it does not take part in UiTPAS.",
                "Check the event in UiTdatabank (organizer, UiTPAS label); the shop charges the regular price.",
            ),
        ],
    ),
    (
        "invalid",
        [
            (
                "UiTPAS vond de gegevens van de bestelling ongeldig (zie Technisch).",
                "Niets in de console: de webshop moet de bestelling verbeteren en opnieuw doorgeven.",
            ),
            (
                "UiTPAS a jugé les données de la commande invalides (voir Technique).",
                "Rien à faire dans la console : la boutique doit corriger la commande et la renvoyer.",
            ),
            (
                "UiTPAS found the order's data invalid (see Technical).",
                "Nothing in the console: the shop must correct the order and send it again.",
            ),
        ],
    ),
    (
        "busy",
        [
            (
                "Er zijn zoveel verkopen van dit evenement bij UiTPAS dat de service niet kan nagaan of UiTPAS de verkopen van deze bestelling heeft.",
                "Zoek ze in het rapport van de organisator (hun prijslabel eindigt op uc-…). Heeft UiTPAS ze niet: opnieuw proberen; anders opgeven (wat gevonden wordt, wordt geannuleerd).",
            ),
            (
                "Il y a tant de ventes de cet événement chez UiTPAS que le service ne peut vérifier si UiTPAS détient les ventes de cette commande.",
                "Cherchez-les dans le rapport de l'organisateur (leur label de prix se termine par uc-…). Si UiTPAS ne les a pas : réessayez ; sinon abandonnez (ce qui est trouvé est annulé).",
            ),
            (
                "UiTPAS has so many sales of this event that the service cannot tell whether it holds this order's sales.",
                "Find them in the organizer's report (their price label ends with uc-…). If UiTPAS has none: retry; otherwise abandon (what is found is cancelled).",
            ),
        ],
    ),
    (
        "inconclusive",
        [
            (
                "De lijst van verkopen bij UiTPAS kon lange tijd niet betrouwbaar gelezen worden; de service weet niet of UiTPAS deze bestelling heeft.",
                "Probeer later opnieuw, of geef de bestelling op.",
            ),
            (
                "La liste des ventes chez UiTPAS n'a pas pu être lue de façon fiable depuis longtemps ; le service ne sait pas si UiTPAS détient cette commande.",
                "Réessayez plus tard, ou abandonnez la commande.",
            ),
            (
                "UiTPAS's list of sales could not be read reliably for a long time; the service cannot tell whether UiTPAS holds this order.",
                "Retry later, or abandon the order.",
            ),
        ],
    ),
    (
        "partial",
        [
            (
                "UiTPAS heeft maar een deel van de verkopen van deze bestelling.",
                "De service annuleert wat UiTPAS heeft; de webshop hoort dat de bestelling geweigerd is.",
            ),
            (
                "UiTPAS ne détient qu'une partie des ventes de cette commande.",
                "Le service annule ce que UiTPAS détient ; la boutique apprend que la commande est refusée.",
            ),
            (
                "UiTPAS holds only some of this order's sales.",
                "The service cancels what UiTPAS holds; the shop hears the order is rejected.",
            ),
        ],
    ),
    (
        "reward-forbidden",
        [
            (
                "UiTPAS zegt dat de service dit niet mag: de klant heeft geen recht om beloningen om te ruilen (REWARDS_REDEEM of REWARDS_READ) voor de organisator van deze beloning. Er zijn geen punten besteed.",
                "Vraag publiq om de rechten (beloningen omruilen) voor de organisator van de beloning en probeer daarna opnieuw.",
            ),
            (
                "UiTPAS dit que le service n'y est pas autorisé : le client n'a pas le droit d'échanger des avantages (REWARDS_REDEEM ou REWARDS_READ) pour l'organisateur de cet avantage. Aucun point n'a été dépensé.",
                "Demandez à publiq les droits (échange d'avantages) pour l'organisateur de l'avantage, puis réessayez.",
            ),
            (
                "UiTPAS says the service may not do this: the customer has no permission to redeem rewards (REWARDS_REDEEM or REWARDS_READ) for this reward's organizer. No points were spent.",
                "Ask publiq for the permission (redeem rewards) for the reward's organizer, then retry.",
            ),
        ],
    ),
    (
        "cancel-refused",
        [
            (
                "UiTPAS weigerde de annulering van deze verkoop.",
                "Kijk bij UiTPAS of de verkoop nog bestaat (bv. al ingecheckt of geannuleerd aan een kassa) en probeer opnieuw, of geef de annulering op: de verkoop blijft dan geregistreerd.",
            ),
            (
                "UiTPAS a refusé l'annulation de cette vente.",
                "Vérifiez chez UiTPAS si la vente existe encore (p. ex. déjà enregistrée ou annulée à une caisse) et réessayez, ou abandonnez l'annulation : la vente reste alors enregistrée.",
            ),
            (
                "UiTPAS refused to cancel this sale.",
                "Check at UiTPAS whether the sale still exists (checked in already, or cancelled at a box office, say) and retry, or abandon the cancellation: the sale then stays registered.",
            ),
        ],
    ),
    (
        "unavailable",
        [
            (
                "UiTPAS antwoordde met een tijdelijke fout, niet op tijd, of was niet bereikbaar.",
                "Niets: de service probeert vanzelf opnieuw. Duurt het lang, kijk dan of publiq een storing meldt; \"Nu proberen\" probeert meteen.",
            ),
            (
                "UiTPAS a répondu par une erreur temporaire, pas à temps, ou était injoignable.",
                "Rien : le service réessaie de lui-même. Si cela dure, voyez si publiq signale une panne ; « Essayer maintenant » réessaie tout de suite.",
            ),
            (
                "UiTPAS answered with a temporary error, not in time, or could not be reached.",
                "Nothing: the service retries by itself. If it lasts, see whether publiq reports an outage; \"Retry now\" tries at once.",
            ),
        ],
    ),
    (
        "report-forbidden",
        [
            (
                "UiTPAS zegt dat de klant de financiële rapporten van deze organisator niet mag opvragen (recht ORGANIZERS_REPORTS).",
                "Vraag publiq om het recht ORGANIZERS_REPORTS voor deze organisator en de sleutels van de klant; probeer daarna opnieuw.",
            ),
            (
                "UiTPAS dit que le client ne peut pas demander les rapports financiers de cet organisateur (droit ORGANIZERS_REPORTS).",
                "Demandez à publiq le droit ORGANIZERS_REPORTS pour cet organisateur et les identifiants du client ; réessayez ensuite.",
            ),
            (
                "UiTPAS says the customer may not ask for this organizer's financial reports (permission ORGANIZERS_REPORTS).",
                "Ask publiq for the permission ORGANIZERS_REPORTS for this organizer and the customer's credentials; then retry.",
            ),
        ],
    ),
    (
        "report-not-found",
        [
            (
                "UiTPAS kent deze organisator of dit rapport niet (meer): rapporten blijven maar een beperkte tijd beschikbaar.",
                "Vraag een nieuw rapport aan voor dezelfde periode.",
            ),
            (
                "UiTPAS ne connaît pas (plus) cet organisateur ou ce rapport : les rapports ne restent disponibles que pour un temps limité.",
                "Demandez un nouveau rapport pour la même période.",
            ),
            (
                "UiTPAS does not know (or no longer knows) this organizer or report: reports stay available for a limited time only.",
                "Ask for a new report for the same period.",
            ),
        ],
    ),
    (
        "report-period",
        [
            (
                "UiTPAS weigerde de periode van het rapport (zie Technisch: welke datum en waarom).",
                "Kies een voorgestelde periode, of een begindatum die niet na de einddatum valt.",
            ),
            (
                "UiTPAS a refusé la période du rapport (voir Technique : quelle date et pourquoi).",
                "Choisissez une période proposée, ou une date de début qui ne tombe pas après la date de fin.",
            ),
            (
                "UiTPAS refused the report's period (see Technical: which date and why).",
                "Pick a suggested period, or a start date that is not after the end date.",
            ),
        ],
    ),
    (
        "other",
        [
            (
                "UiTPAS weigerde (zie Technisch voor publiq's eigen uitleg).",
                "Kijk de technische uitleg na; geef publiq's helpdesk het type van het probleem.",
            ),
            (
                "UiTPAS a refusé (voir Technique pour l'explication de publiq).",
                "Lisez l'explication technique ; donnez au helpdesk de publiq le type du problème.",
            ),
            (
                "UiTPAS refused (see Technical for publiq's own explanation).",
                "Read the technical explanation; give publiq's helpdesk the problem's type.",
            ),
        ],
    ),
];

impl Explanation {
    fn entry(self) -> [(&'static str, &'static str); 3] {
        EXPLANATIONS
            .iter()
            .find(|(k, _)| *k == self.key)
            .map_or(EXPLANATIONS[EXPLANATIONS.len() - 1].1, |(_, e)| *e)
    }

    fn of_lang(self, lang: Lang) -> (&'static str, &'static str) {
        let e = self.entry();
        match lang {
            Lang::Nl => e[0],
            Lang::Fr => e[1],
            Lang::En => e[2],
        }
    }

    /// What happened.
    pub fn what(self, lang: Lang) -> &'static str {
        self.of_lang(lang).0
    }

    /// What to do.
    pub fn to_do(self, lang: Lang) -> &'static str {
        self.of_lang(lang).1
    }
}

/// The last part of a problem's `type`: `forbidden` of `https://api.publiq.be/probs/auth/forbidden`,
/// `needs-attention` of `urn:uitpas-checkout:problem:needs-attention`.
fn slug(kind: &str) -> &str {
    kind.rsplit(['/', ':']).next().unwrap_or(kind)
}

/// The explanation of a problem as the ledger stores it (RFC 9457, publiq's or ours).
pub fn problem(problem: &Value) -> Explanation {
    let kind = problem.get("type").and_then(Value::as_str).unwrap_or("");
    let status = problem.get("status").and_then(Value::as_u64).unwrap_or(0);
    let key = match slug(kind) {
        "unauthorized" | "upstream-credentials-refused" | "credentials-refused" => "credentials",
        "forbidden" | "permission-missing" => "forbidden",
        "maximum-reached" | "tariff-remaining-exceeded" => "maximum-reached",
        "pass-not-found"
        | "invalid-uitpas-number"
        | "card-blocked"
        | "invalid-card-status"
        | "passholder-not-found"
        | "invalid-pass-identifier" => "pass",
        "social-tariff-expired" | "social-tariff-not-available" | "tariff-not-available" | "tariff-not-found" => {
            "tariff"
        }
        "event-not-found" => "event",
        "unsettled-busy-event" => "busy",
        "unsettled-inconclusive" => "inconclusive",
        "partially-registered" => "partial",
        "upstream-unavailable" | "upstream-timeout" => "unavailable",
        _ if kind.contains("/probs/body/") => "invalid",
        _ if status == 401 => "credentials",
        _ if status == 403 => "forbidden",
        _ if status >= 500 => "unavailable",
        _ => "other",
    };
    Explanation { key }
}

/// The explanation of a refusal of a financial report's call: the permission, the period, an
/// organizer or report UiTPAS does not know; anything else as [`problem`] says.
pub fn report(p: &Value) -> Explanation {
    let kind = p.get("type").and_then(Value::as_str).unwrap_or("");
    match (problem(p).key, slug(kind)) {
        ("forbidden", _) => Explanation {
            key: "report-forbidden",
        },
        (_, "organizer-not-found" | "report-not-found") => Explanation {
            key: "report-not-found",
        },
        ("invalid", _) => Explanation { key: "report-period" },
        (key, _) => Explanation { key },
    }
}

/// The explanation of a parked cancellation: a refusal of the credentials or permission is that;
/// any other refusal is one of the cancellation itself.
pub fn parked_cancel(p: &Value) -> Explanation {
    match problem(p).key {
        key @ ("credentials" | "forbidden") => Explanation { key },
        _ => Explanation { key: "cancel-refused" },
    }
}

/// The explanation of a parked redemption or cancellation of one: a refused permission is one to
/// redeem rewards; anything else as [`problem`] says.
pub fn parked_redemption(p: &Value) -> Explanation {
    match problem(p).key {
        "forbidden" => Explanation {
            key: "reward-forbidden",
        },
        key => Explanation { key },
    }
}

/// The explanation of the worker's last error on a job (`UiTPAS answered 503`, `UiTPAS did not
/// answer in time`, `UiTPAS refused (403): forbidden`, …); `None` when it says nothing known.
pub fn last_error(error: &str) -> Option<Explanation> {
    let e = error.to_ascii_lowercase();
    let key = if e.contains("token server") || e.contains("(401)") {
        "credentials"
    } else if e.contains("(403)") {
        "forbidden"
    } else if e.contains("refused (") {
        let slug = e.rsplit(": ").next().unwrap_or("");
        return Some(problem(&serde_json::json!({ "type": format!("/probs/uitpas/{slug}") })));
    } else if e.contains(" answered 5")
        || e.contains("did not answer in time")
        || e.contains("could not be reached")
        || e.contains("could not be read")
        || e.contains("answered 429")
    {
        "unavailable"
    } else {
        return None;
    };
    Some(Explanation { key })
}

/// publiq's message for the buyer in `lang` (`endUserMessage`), if the problem has one.
pub fn end_user_message(problem: &Value, lang: Lang) -> Option<String> {
    let message = problem.get("endUserMessage")?;
    message
        .get(lang.code())
        .or_else(|| message.get("nl"))
        .and_then(Value::as_str)
        .map(str::to_owned)
}

/// The problem in one line, as publiq gave it (English): `403 …/auth/forbidden: detail`.
pub fn technical(problem: &Value) -> String {
    let text = |name: &str| problem.get(name).and_then(Value::as_str).unwrap_or("");
    let status = problem.get("status").and_then(Value::as_u64).unwrap_or(0);
    let kind = Some(text("type")).filter(|k| !k.is_empty() && *k != "about:blank");
    let detail = Some(text("detail")).filter(|d| !d.is_empty()).unwrap_or(text("title"));
    match kind {
        Some(kind) => format!("{status} {kind}: {detail}"),
        None => format!("{status}: {detail}"),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn every_explanation_has_three_languages() {
        for (key, langs) in EXPLANATIONS {
            for (what, to_do) in langs {
                assert!(!what.is_empty() && !to_do.is_empty(), "{key}");
            }
        }
    }

    #[test]
    fn publiqs_problems_and_the_workers_errors_are_explained() {
        let forbidden = json!({"type": "https://api.publiq.be/probs/auth/forbidden", "status": 403});
        assert_eq!(problem(&forbidden).key, "forbidden");
        let max = json!({"type": "https://api.publiq.be/probs/uitpas/maximum-reached", "status": 400});
        assert_eq!(problem(&max).key, "maximum-reached");
        assert_eq!(
            problem(&json!({"type": "urn:uitpas-checkout:problem:unsettled-busy-event"})).key,
            "busy"
        );
        assert_eq!(problem(&json!({"status": 418})).key, "other");
        assert_eq!(parked_cancel(&max).key, "cancel-refused");
        let missing = json!({"type": "urn:uitpas-checkout:problem:permission-missing", "status": 403});
        assert_eq!(parked_redemption(&missing).key, "reward-forbidden");
        assert_eq!(last_error("UiTPAS answered 503").map(|e| e.key), Some("unavailable"));
        assert_eq!(
            last_error("UiTPAS refused (403): forbidden").map(|e| e.key),
            Some("forbidden")
        );
        assert_eq!(
            last_error("UiTPAS refused (400): maximum-reached").map(|e| e.key),
            Some("maximum-reached")
        );
        assert_eq!(last_error("the hold has not expired yet"), None);
        assert!(problem(&forbidden).what(Lang::Fr).contains("autorisé"));
        assert_eq!(report(&forbidden).key, "report-forbidden");
        let invalid = json!({"type": "https://api.publiq.be/probs/body/invalid-data", "status": 400});
        assert_eq!(report(&invalid).key, "report-period");
        let gone = json!({"type": "https://api.publiq.be/probs/uitpas/report-not-found", "status": 404});
        assert_eq!(report(&gone).key, "report-not-found");
    }
}
