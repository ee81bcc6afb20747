//! What a customer's publiq client may do, per organizer, as `GET /permissions` answers it: the
//! organizers and their linked organizers, each permission with the card systems it applies to.
//!
//! A permission ending in `_ALL` (publiq, 2026-08) grants its operation for every event of the
//! organizer, so it counts as the permission it widens ([`GRANTED_BY_ALL`]). What the service can
//! do with these permissions is in [`super::capabilities`].

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::uitpas::{OrganizerPermissionsAnswer, PermissionDetail};

/// The permission a registration or cancellation needs.
pub const REGISTER: &str = "TICKETSALES_REGISTER";
/// The permission a look at an organizer's sales needs (by event or by passholder).
pub const SEARCH: &str = "TICKETSALES_SEARCH";

/// Each `_ALL` permission of publiq's `Permission` enum and the permission it grants for every
/// event of the organizer (the OpenAPI descriptions: "`EVENTS_UPDATE` … or `EVENTS_UPDATE_ALL`").
pub const GRANTED_BY_ALL: [(&str, &str); 5] = [
    ("EVENTS_READ_ALL", "EVENTS_READ"),
    ("EVENTS_UPDATE_ALL", "EVENTS_UPDATE"),
    ("EVENT_SETTINGS_READ_ALL", "EVENT_SETTINGS_READ"),
    ("EVENT_SETTINGS_UPDATE_ALL", "EVENT_SETTINGS_UPDATE"),
    ("PASSHOLDERS_SEARCH_ALL", "PASSHOLDERS_SEARCH"),
];

/// The permission an `_ALL` permission grants, if it is one.
pub fn granted_by(all: &str) -> Option<&'static str> {
    GRANTED_BY_ALL.iter().find(|(a, _)| *a == all).map(|(_, p)| *p)
}

/// The `_ALL` permission that also grants `permission`, if there is one.
fn widened_by(permission: &str) -> Option<&'static str> {
    GRANTED_BY_ALL.iter().find(|(_, p)| *p == permission).map(|(a, _)| *a)
}

/// A card system (a region's UiTPAS) an organizer takes part in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CardSystem {
    pub id: i64,
    #[serde(default)]
    pub name: Option<String>,
}

/// One organizer the client may act for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrganizerPermissions {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    /// publiq's permission ids, e.g. TARIFFS_READ, TICKETSALES_REGISTER.
    pub permissions: BTreeSet<String>,
    /// The card systems the organizer takes part in, as UiTPAS named them.
    #[serde(default)]
    pub card_systems: Vec<CardSystem>,
    /// Per permission, the card systems it applies to (`cardSystemIds`); a permission UiTPAS
    /// said none for is not here.
    #[serde(default)]
    pub permission_card_systems: BTreeMap<String, BTreeSet<i64>>,
    /// The organizers `GET /permissions` lists this one under as a linked organizer; empty when
    /// it is listed on its own only (or was read before this was kept).
    #[serde(default)]
    pub linked_to: Vec<String>,
}

impl OrganizerPermissions {
    /// The permission held that grants `permission`: itself, or the `_ALL` that widens it.
    pub fn granting(&self, permission: &str) -> Option<&str> {
        if let Some(held) = self.permissions.get(permission) {
            return Some(held);
        }
        widened_by(permission).and_then(|all| self.permissions.get(all).map(String::as_str))
    }

    pub fn has(&self, permission: &str) -> bool {
        self.granting(permission).is_some()
    }

    /// The card systems `permission` applies to (through itself or its `_ALL`), when UiTPAS said.
    pub fn card_systems_of(&self, permission: &str) -> Option<BTreeSet<i64>> {
        let mut known: Option<BTreeSet<i64>> = None;
        for held in [Some(permission), widened_by(permission)].into_iter().flatten() {
            if self.permissions.contains(held)
                && let Some(ids) = self.permission_card_systems.get(held)
            {
                known.get_or_insert_default().extend(ids);
            }
        }
        known
    }

    /// The name of card system `id`, when UiTPAS gave it.
    pub fn card_system_name(&self, id: i64) -> Option<&str> {
        self.card_systems
            .iter()
            .find(|c| c.id == id)
            .and_then(|c| c.name.as_deref())
    }

    fn merge(&mut self, other: OrganizerPermissions) {
        self.name = self.name.take().or(other.name);
        self.permissions.extend(other.permissions);
        for card_system in other.card_systems {
            if !self.card_systems.iter().any(|c| c.id == card_system.id) {
                self.card_systems.push(card_system);
            }
        }
        for (permission, ids) in other.permission_card_systems {
            self.permission_card_systems.entry(permission).or_default().extend(ids);
        }
        for parent in other.linked_to {
            if !self.linked_to.contains(&parent) {
                self.linked_to.push(parent);
            }
        }
    }
}

/// The organizers and permissions of a client, and when UiTPAS said so.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Permissions {
    pub organizers: Vec<OrganizerPermissions>,
    pub read_at: DateTime<Utc>,
}

/// An organizer of the answer, with its details and, when linked, the organizer it is linked to.
fn organizer_of(
    organizer: crate::uitpas::OrganizerRef,
    deprecated: Vec<String>,
    details: Vec<PermissionDetail>,
    linked_to: Option<&str>,
) -> OrganizerPermissions {
    let mut permissions: BTreeSet<String> = deprecated.into_iter().collect();
    let mut permission_card_systems: BTreeMap<String, BTreeSet<i64>> = BTreeMap::new();
    for detail in details {
        if !detail.card_system_ids.is_empty() {
            permission_card_systems
                .entry(detail.id.clone())
                .or_default()
                .extend(detail.card_system_ids);
        }
        permissions.insert(detail.id);
    }
    OrganizerPermissions {
        id: organizer.id,
        name: organizer.name,
        permissions,
        card_systems: organizer
            .card_systems
            .into_iter()
            .map(|c| CardSystem { id: c.id, name: c.name })
            .collect(),
        permission_card_systems,
        linked_to: linked_to.into_iter().map(str::to_owned).collect(),
    }
}

impl Permissions {
    /// From UiTPAS's answer: the organizers and their linked organizers, each with the union of
    /// `permissions` (deprecated) and `permissionDetails`; an organizer listed twice is one.
    pub fn from_answer(answer: Vec<OrganizerPermissionsAnswer>, read_at: DateTime<Utc>) -> Self {
        let mut organizers: Vec<OrganizerPermissions> = Vec::new();
        let mut add = |organizer: OrganizerPermissions| match organizers.iter_mut().find(|o| o.id == organizer.id) {
            Some(known) => known.merge(organizer),
            None => organizers.push(organizer),
        };
        for entry in answer {
            let parent = entry.organizer.id.clone();
            add(organizer_of(
                entry.organizer,
                entry.permissions,
                entry.permission_details,
                None,
            ));
            for linked in entry.linked_organizers {
                add(organizer_of(
                    linked.organizer,
                    Vec::new(),
                    linked.permission_details,
                    Some(&parent),
                ));
            }
        }
        Self { organizers, read_at }
    }

    /// The organizer of that id, if the client may act for it.
    pub fn organizer(&self, organizer: &str) -> Option<&OrganizerPermissions> {
        self.organizers.iter().find(|o| o.id.eq_ignore_ascii_case(organizer))
    }

    /// Whether the client may do `permission` for `organizer` (an `_ALL` permission counts for
    /// the one it widens).
    pub fn allows(&self, organizer: &str, permission: &str) -> bool {
        self.organizers
            .iter()
            .any(|o| o.id.eq_ignore_ascii_case(organizer) && o.has(permission))
    }

    /// Whether the client holds `permission` for any organizer (publiq ties some permissions,
    /// such as PASSES_READ, to no organizer).
    pub fn allows_anywhere(&self, permission: &str) -> bool {
        self.organizers.iter().any(|o| o.has(permission))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(value: serde_json::Value) -> Permissions {
        Permissions::from_answer(serde_json::from_value(value).unwrap(), Utc::now())
    }

    #[test]
    fn linked_organizers_and_both_lists_count() {
        let p = answer(serde_json::json!([
            {
                "organizer": {"id": "a", "name": "CC De Werf"},
                "permissions": ["TARIFFS_READ"],
                "permissionDetails": [{"id": "TICKETSALES_REGISTER", "label": {"nl": "x"}}],
                "linkedOrganizers": [
                    {"organizer": {"id": "b", "name": "Sportdienst"}, "permissionDetails": [{"id": "CHECKINS_WRITE"}]}
                ]
            }
        ]));
        assert!(p.allows("a", "TARIFFS_READ") && p.allows("A", REGISTER));
        assert!(p.allows("b", "CHECKINS_WRITE") && !p.allows("b", REGISTER));
        assert!(!p.allows("c", "TARIFFS_READ"));
        assert_eq!(p.organizer("b").unwrap().linked_to, vec!["a".to_owned()]);
        assert!(p.organizer("a").unwrap().linked_to.is_empty());
    }

    #[test]
    fn an_all_permission_grants_the_one_it_widens_and_not_the_reverse() {
        let p = answer(serde_json::json!([
            {
                "organizer": {"id": "a"},
                "permissionDetails": [
                    {"id": "EVENTS_READ_ALL", "cardSystemIds": [1]},
                    {"id": "PASSHOLDERS_SEARCH_ALL"},
                    {"id": "EVENT_SETTINGS_READ"}
                ]
            }
        ]));
        assert!(p.allows("a", "EVENTS_READ") && p.allows("a", "EVENTS_READ_ALL"));
        assert!(p.allows("a", "PASSHOLDERS_SEARCH"));
        assert_eq!(
            p.organizer("a").unwrap().granting("EVENTS_READ"),
            Some("EVENTS_READ_ALL")
        );
        // A plain permission grants no _ALL, and an _ALL grants nothing else.
        assert!(p.allows("a", "EVENT_SETTINGS_READ") && !p.allows("a", "EVENT_SETTINGS_READ_ALL"));
        assert!(!p.allows("a", "EVENTS_UPDATE") && !p.allows("a", REGISTER));
        assert!(!p.allows("b", "EVENTS_READ"));
        assert_eq!(
            p.organizer("a").unwrap().card_systems_of("EVENTS_READ"),
            Some(BTreeSet::from([1]))
        );
        assert_eq!(granted_by("EVENTS_UPDATE_ALL"), Some("EVENTS_UPDATE"));
        assert_eq!(granted_by("EVENTS_UPDATE"), None);
    }

    #[test]
    fn card_systems_are_kept_per_permission_and_an_organizer_listed_twice_is_merged() {
        let p = answer(serde_json::json!([
            {
                "organizer": {"id": "a", "name": "A", "cardSystems": [{"id": 1, "name": "UiTPAS Regio Gent"}]},
                "permissionDetails": [{"id": "TARIFFS_READ", "cardSystemIds": [1]}, {"id": REGISTER}],
                "linkedOrganizers": [{"organizer": {"id": "b"}, "permissionDetails": [{"id": REGISTER, "cardSystemIds": [2]}]}]
            },
            {
                "organizer": {"id": "b", "name": "B", "cardSystems": [{"id": 2, "name": "Paspartoe"}]},
                "permissionDetails": [{"id": REGISTER, "cardSystemIds": [3]}, {"id": "TARIFFS_READ"}]
            }
        ]));
        let a = p.organizer("a").unwrap();
        assert_eq!(a.card_systems_of("TARIFFS_READ"), Some(BTreeSet::from([1])));
        assert_eq!(a.card_systems_of(REGISTER), None);
        assert_eq!(a.card_system_name(1), Some("UiTPAS Regio Gent"));
        let b = p.organizer("b").unwrap();
        assert_eq!(p.organizers.len(), 2);
        assert_eq!(b.name.as_deref(), Some("B"));
        assert_eq!(b.card_systems_of(REGISTER), Some(BTreeSet::from([2, 3])));
        assert_eq!(b.linked_to, vec!["a".to_owned()]);
        assert!(b.has("TARIFFS_READ"));
    }

    #[test]
    fn permissions_stored_before_card_systems_were_kept_still_read() {
        let stored = serde_json::json!({
            "organizers": [{"id": "a", "name": "A", "permissions": ["TARIFFS_READ", REGISTER]}],
            "readAt": "2026-11-01T10:00:00Z"
        });
        let p: Permissions = serde_json::from_value(stored).unwrap();
        assert!(p.allows("a", REGISTER));
        let a = p.organizer("a").unwrap();
        assert!(a.card_systems.is_empty() && a.linked_to.is_empty());
        assert_eq!(a.card_systems_of(REGISTER), None);
    }
}
