//! What a customer's publiq client may do, per organizer, as `GET /permissions` answers it.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::uitpas::OrganizerPermissionsAnswer;

/// The permission a registration or cancellation needs.
pub const REGISTER: &str = "TICKETSALES_REGISTER";
/// The permission a look at an organizer's sales needs (by event or by passholder).
pub const SEARCH: &str = "TICKETSALES_SEARCH";

/// One organizer the client may act for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrganizerPermissions {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    /// publiq's permission ids, e.g. TARIFFS_READ, TICKETSALES_REGISTER.
    pub permissions: BTreeSet<String>,
}

/// The organizers and permissions of a client, and when UiTPAS said so.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Permissions {
    pub organizers: Vec<OrganizerPermissions>,
    pub read_at: DateTime<Utc>,
}

impl Permissions {
    /// From UiTPAS's answer: the organizers and their linked organizers, each with the union of
    /// `permissions` (deprecated) and `permissionDetails`.
    pub fn from_answer(answer: Vec<OrganizerPermissionsAnswer>, read_at: DateTime<Utc>) -> Self {
        let mut organizers: Vec<OrganizerPermissions> = Vec::new();
        let mut add = |id: String, name: Option<String>, permissions: BTreeSet<String>| match organizers
            .iter_mut()
            .find(|o| o.id == id)
        {
            Some(known) => known.permissions.extend(permissions),
            None => organizers.push(OrganizerPermissions { id, name, permissions }),
        };
        for entry in answer {
            let mut permissions: BTreeSet<String> = entry.permissions.into_iter().collect();
            permissions.extend(entry.permission_details.into_iter().map(|d| d.id));
            add(entry.organizer.id, entry.organizer.name, permissions);
            for linked in entry.linked_organizers {
                add(
                    linked.organizer.id,
                    linked.organizer.name,
                    linked.permission_details.into_iter().map(|d| d.id).collect(),
                );
            }
        }
        Self { organizers, read_at }
    }

    /// Whether the client may do `permission` for `organizer`.
    pub fn allows(&self, organizer: &str, permission: &str) -> bool {
        self.organizers
            .iter()
            .any(|o| o.id.eq_ignore_ascii_case(organizer) && o.permissions.contains(permission))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linked_organizers_and_both_lists_count() {
        let answer: Vec<OrganizerPermissionsAnswer> = serde_json::from_value(serde_json::json!([
            {
                "organizer": {"id": "a", "name": "CC De Werf"},
                "permissions": ["TARIFFS_READ"],
                "permissionDetails": [{"id": "TICKETSALES_REGISTER", "label": {"nl": "x"}}],
                "linkedOrganizers": [
                    {"organizer": {"id": "b", "name": "Sportdienst"}, "permissionDetails": [{"id": "CHECKINS_WRITE"}]}
                ]
            }
        ]))
        .unwrap();
        let p = Permissions::from_answer(answer, Utc::now());
        assert!(p.allows("a", "TARIFFS_READ") && p.allows("A", REGISTER));
        assert!(p.allows("b", "CHECKINS_WRITE") && !p.allows("b", REGISTER));
        assert!(!p.allows("c", "TARIFFS_READ"));
    }
}
