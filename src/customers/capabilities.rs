//! What the service does with UiTPAS, and the permissions each needs ([`CAPABILITIES`]): per
//! organizer of a customer, what the service can and cannot do, and what is missing. The console's
//! permissions page and the admin API's customers show it.
//!
//! The permissions are those the OpenAPI description of each operation names ("The caller of this
//! request must have `TICKETSALES_REGISTER` permission for the organizer of the given event").
//! Calls to UiTdatabank (the Entry API's events) need rights there, which `GET /permissions` does
//! not list; `GET /events/{eventId}/card-systems` and `GET /permissions` need none.

use std::collections::BTreeSet;

use serde::Serialize;
use utoipa::ToSchema;

use super::permissions::{CardSystem, OrganizerPermissions, Permissions, REGISTER, SEARCH};

/// Whether publiq checks a permission for the event's organizer or for the client as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Scope {
    /// For the organizer of the event (or the one named in the call).
    Organizer,
    /// For the client, whatever the organizer (e.g. PASSES_READ): held for any organizer.
    Client,
}

/// One thing the service does with UiTPAS.
#[derive(Debug)]
pub struct Capability {
    /// Its key: the console's text of it, the admin API's name of it.
    pub key: &'static str,
    /// Every permission it needs.
    pub needs: &'static [&'static str],
    pub scope: Scope,
    /// The UiTPAS operations (operationId) it calls.
    pub operations: &'static [&'static str],
}

/// Everything the service does with UiTPAS.
pub const CAPABILITIES: [Capability; 10] = [
    Capability {
        key: "pass_lookup",
        needs: &["PASSES_READ"],
        scope: Scope::Client,
        operations: &["get-passes"],
    },
    Capability {
        key: "tariffs",
        needs: &["TARIFFS_READ"],
        scope: Scope::Organizer,
        operations: &["get-tariffs", "get-tariffs-static"],
    },
    Capability {
        key: "sell",
        needs: &["TARIFFS_READ", REGISTER],
        scope: Scope::Organizer,
        operations: &["get-tariffs", "post-ticket-sales"],
    },
    Capability {
        key: "cancel",
        needs: &[REGISTER],
        scope: Scope::Organizer,
        operations: &["delete-ticket-sales"],
    },
    Capability {
        key: "settle",
        needs: &[SEARCH],
        scope: Scope::Organizer,
        operations: &["get-ticket-sales"],
    },
    Capability {
        key: "checkin",
        needs: &["CHECKINS_WRITE"],
        scope: Scope::Organizer,
        operations: &["get-checkin-status", "post-checkins"],
    },
    Capability {
        key: "undo_checkin",
        needs: &["CHECKINS_READ", "CHECKINS_WRITE"],
        scope: Scope::Organizer,
        operations: &["get-checkins", "delete-checkins-checkinId"],
    },
    Capability {
        key: "reports",
        needs: &["ORGANIZERS_REPORTS"],
        scope: Scope::Organizer,
        operations: &[
            "get-organizers-financial-reports-periods",
            "post-organizers-financial-reports",
            "get-organizers-financial-reports-reportId",
            "get-organizers-financial-reports-reportId-downloadLink",
            "get-organizers-financial-reports-reportId-zip",
        ],
    },
    Capability {
        key: "rewards_read",
        needs: &["REWARDS_READ"],
        scope: Scope::Organizer,
        operations: &["get-rewards-id", "get-rewards-redeemed"],
    },
    Capability {
        key: "rewards_redeem",
        needs: &["REWARDS_REDEEM"],
        scope: Scope::Organizer,
        operations: &[
            "get-rewards-id-redeem-status",
            "post-rewards-redeemed",
            "delete-rewards-redeemed-redeemedRewardId",
        ],
    },
];

/// What the service can do of one capability for one organizer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Assessment {
    /// The capability's key: pass_lookup, tariffs, sell, cancel, settle (look up sales after a
    /// lost answer, reconcile), checkin, undo_checkin, reports, rewards_read, rewards_redeem.
    pub capability: String,
    pub can: bool,
    pub scope: Scope,
    /// Every permission it needs.
    pub needs: Vec<String>,
    /// The permissions it needs that UiTPAS does not give for this organizer.
    pub missing: Vec<String>,
    /// The `_ALL` permissions through which a permission it needs is held.
    pub through_all: Vec<String>,
    /// The card systems every permission it needs applies to, when UiTPAS said; none in common
    /// means it cannot.
    pub card_system_ids: Option<Vec<i64>>,
}

/// An organizer of a customer and what the service can do for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrganizerCapabilities {
    pub organizer_id: String,
    pub name: Option<String>,
    /// The organizers it is listed under as a linked organizer.
    pub linked_to: Vec<String>,
    pub card_systems: Vec<CardSystem>,
    pub capabilities: Vec<Assessment>,
}

/// What the service can do of `capability` for `organizer` of a client holding `permissions`.
pub fn assess(capability: &Capability, permissions: &Permissions, organizer: &OrganizerPermissions) -> Assessment {
    let held = |p: &str| match capability.scope {
        Scope::Organizer => organizer.has(p),
        Scope::Client => permissions.allows_anywhere(p),
    };
    let missing: Vec<String> = capability
        .needs
        .iter()
        .filter(|p| !held(p))
        .map(|p| (*p).to_owned())
        .collect();
    let through_all: Vec<String> = capability
        .needs
        .iter()
        .filter_map(|p| organizer.granting(p).filter(|g| g != p))
        .map(str::to_owned)
        .collect();
    let card_systems = match capability.scope {
        Scope::Organizer if missing.is_empty() => capability
            .needs
            .iter()
            .filter_map(|p| organizer.card_systems_of(p))
            .reduce(|a, b| a.intersection(&b).copied().collect::<BTreeSet<i64>>()),
        _ => None,
    };
    Assessment {
        capability: capability.key.to_owned(),
        can: missing.is_empty() && card_systems.as_ref().is_none_or(|c| !c.is_empty()),
        scope: capability.scope,
        needs: capability.needs.iter().map(|p| (*p).to_owned()).collect(),
        missing,
        through_all,
        card_system_ids: card_systems.map(|c| c.into_iter().collect()),
    }
}

/// Every organizer of a client and what the service can do for each.
pub fn of(permissions: &Permissions) -> Vec<OrganizerCapabilities> {
    permissions
        .organizers
        .iter()
        .map(|organizer| OrganizerCapabilities {
            organizer_id: organizer.id.clone(),
            name: organizer.name.clone(),
            linked_to: organizer.linked_to.clone(),
            card_systems: organizer.card_systems.clone(),
            capabilities: CAPABILITIES.iter().map(|c| assess(c, permissions, organizer)).collect(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;

    fn permissions(value: serde_json::Value) -> Permissions {
        Permissions::from_answer(serde_json::from_value(value).unwrap(), Utc::now())
    }

    fn capability<'a>(all: &'a [OrganizerCapabilities], organizer: &str, key: &str) -> &'a Assessment {
        all.iter()
            .find(|o| o.organizer_id == organizer)
            .and_then(|o| o.capabilities.iter().find(|c| c.capability == key))
            .unwrap()
    }

    #[test]
    fn every_capability_has_its_own_key_and_needs_a_known_permission() {
        let keys: BTreeSet<&str> = CAPABILITIES.iter().map(|c| c.key).collect();
        assert_eq!(keys.len(), CAPABILITIES.len());
        for c in &CAPABILITIES {
            assert!(!c.needs.is_empty() && !c.operations.is_empty(), "{}", c.key);
        }
    }

    #[test]
    fn without_ticketsales_register_the_service_can_quote_and_settle_but_not_sell_or_cancel() {
        let all = of(&permissions(serde_json::json!([
            {"organizer": {"id": "a"}, "permissionDetails": [{"id": "TARIFFS_READ"}, {"id": SEARCH}]},
            {"organizer": {"id": "b"}, "permissionDetails": [{"id": "PASSES_READ"}, {"id": REGISTER}]}
        ])));
        let sell = capability(&all, "a", "sell");
        assert!(!sell.can);
        assert_eq!(sell.missing, vec![REGISTER.to_owned()]);
        assert!(!capability(&all, "a", "cancel").can);
        assert!(capability(&all, "a", "tariffs").can && capability(&all, "a", "settle").can);
        // A permission tied to no organizer counts wherever it is held.
        assert!(capability(&all, "a", "pass_lookup").can);
        // Without TICKETSALES_SEARCH an unclear answer cannot be settled by the service itself.
        let settle = capability(&all, "b", "settle");
        assert!(!settle.can && settle.missing == vec![SEARCH.to_owned()]);
        assert_eq!(capability(&all, "b", "sell").missing, vec!["TARIFFS_READ".to_owned()]);
        assert!(capability(&all, "b", "cancel").can);
        assert!(!capability(&all, "b", "rewards_redeem").can);
    }

    #[test]
    fn a_capability_applies_to_the_card_systems_all_its_permissions_share() {
        let all = of(&permissions(serde_json::json!([
            {"organizer": {"id": "a"}, "permissionDetails": [
                {"id": "TARIFFS_READ", "cardSystemIds": [1, 2]},
                {"id": REGISTER, "cardSystemIds": [2, 3]},
                {"id": "CHECKINS_READ", "cardSystemIds": [1]},
                {"id": "CHECKINS_WRITE", "cardSystemIds": [3]}
            ]}
        ])));
        let sell = capability(&all, "a", "sell");
        assert!(sell.can);
        assert_eq!(sell.card_system_ids, Some(vec![2]));
        assert_eq!(capability(&all, "a", "cancel").card_system_ids, Some(vec![2, 3]));
        // Both held, but in no card system together.
        let undo = capability(&all, "a", "undo_checkin");
        assert!(!undo.can && undo.missing.is_empty());
        assert_eq!(undo.card_system_ids, Some(vec![]));
    }

    #[test]
    fn an_all_permission_is_named_as_what_grants_a_needed_one() {
        let p = permissions(serde_json::json!([
            {"organizer": {"id": "a"}, "permissionDetails": [{"id": "PASSHOLDERS_SEARCH_ALL"}]}
        ]));
        let organizer = p.organizer("a").unwrap();
        let lookup = Capability {
            key: "passholders",
            needs: &["PASSHOLDERS_SEARCH"],
            scope: Scope::Organizer,
            operations: &["get-passholders"],
        };
        let assessed = assess(&lookup, &p, organizer);
        assert!(assessed.can);
        assert_eq!(assessed.through_all, vec!["PASSHOLDERS_SEARCH_ALL".to_owned()]);
    }
}
