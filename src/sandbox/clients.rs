//! The clients of the sandbox's token server and what each may do.
//!
//! publiq issues one set of client credentials per customer (a municipality or an umbrella
//! organization); the credentials carry the organizers the client may act for and, per
//! organizer, its permissions (`GET /permissions`). A UiTPAS call for an event of an organizer
//! the client holds no such permission for is refused with 403
//! `https://api.publiq.be/probs/auth/forbidden`.
//!
//! The sandbox knows four clients ([`KNOWN_CLIENTS`]). Any other client id with a non-empty
//! secret is accepted too, as before clients were known, and acts like
//! [`CHECKOUT_CLIENT_ID`] under its own id. `PUT /_sandbox/clients/{clientId}/permissions`
//! replaces what a client may do, at once for the tokens it already holds; those replacements
//! live in memory only, like the tokens (an embedded sandbox that restarts forgets them).
//!
//! `GET /permissions` answers each organizer with its card systems and each permission with the
//! card systems it applies to ([`Clients::answer`]); [`LINKED_CLIENT_ID`] is an umbrella
//! organization's client, answered with an `_ALL` permission and a linked organizer.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde_json::{Value, json};

use super::dataset::{self, OTHER_ORGANIZER, TEST_ORGANIZER};

/// A permission of UiTPAS API 4.0 (the specification's `Permission` enum), by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Permission(&'static str);

/// Every permission the specification names, in its order.
const ALL_PERMISSIONS: [&str; 57] = [
    "TARIFFS_READ",
    "TICKETSALES_SEARCH",
    "TICKETSALES_REGISTER",
    "EVENTS_UPDATE",
    "EVENTS_READ",
    "EVENT_SETTINGS_READ",
    "EVENT_SETTINGS_UPDATE",
    "EVENTS_UPDATE_ALL",
    "EVENTS_READ_ALL",
    "EVENT_SETTINGS_READ_ALL",
    "EVENT_SETTINGS_UPDATE_ALL",
    "EVENTS_QR_CHECKINCODE",
    "CHECKINS_READ",
    "CHECKINS_WRITE",
    "ORGANIZERS_SEARCH",
    "ORGANIZERS_REPORTS",
    "ORGANIZERS_ADMINS_READ",
    "ORGANIZERS_ADMINS_WRITE",
    "PASSHOLDERS_PICTURE_READ",
    "PASSHOLDERS_PICTURE_WRITE",
    "PASSHOLDERS_PRIVATE_READ",
    "PASSHOLDERS_PRIVATE_WRITE",
    "PASSHOLDERS_SEARCH",
    "PASSHOLDERS_SEARCH_ALL",
    "PASSHOLDERS_SEARCH_BY_ID",
    "GROUPPASSES_SEARCH",
    "PASSHOLDERS_WRITE",
    "PASSHOLDERS_WRITE_SOCIALTARIFF_FULL_CARDSYSTEM",
    "PASSHOLDERS_WRITE_FOREIGN_COUNTRY",
    "PASSHOLDERS_WRITE_SOCIALTARIFF",
    "PASSHOLDERS_UPDATE",
    "PASSHOLDERS_DELETE",
    "PASSHOLDER_COUPONS_READ",
    "GROUPPASS_COUPONS_READ",
    "MEMBERSHIP_PRICES_READ",
    "PASSES_READ",
    "PASSES_INSZNUMBERS_READ",
    "PASSES_CHIPNUMBERS_READ",
    "REWARDS_WRITE",
    "REWARDS_READ",
    "REWARDS_REDEEM",
    "REWARDS_PASSHOLDERS_READ",
    "PASSHOLDERS_SELF_REGISTRATION",
    "PASSHOLDERS_SELF_CHECKIN",
    "PASSHOLDERS_SELF_READ",
    "PASSHOLDERS_REGISTER_UITID",
    "PASSHOLDERS_TRANSACTION_HISTORY",
    "PASSHOLDERS_FAMILY_MEMBERS",
    "ORDERS_READ",
    "ORDERS_CREATE",
    "PERMISSIONS_READ",
    "PERMISSIONS_WRITE",
    "CARDS_READ",
    "ASSOCIATIONS",
    "SOCIALTARIFF_EXPORT",
    "KIOSKS_READ",
    "KIOSKS_WRITE",
];

impl Permission {
    pub const TARIFFS_READ: Permission = Permission("TARIFFS_READ");
    pub const TICKETSALES_REGISTER: Permission = Permission("TICKETSALES_REGISTER");
    pub const TICKETSALES_SEARCH: Permission = Permission("TICKETSALES_SEARCH");
    pub const CHECKINS_READ: Permission = Permission("CHECKINS_READ");
    pub const CHECKINS_WRITE: Permission = Permission("CHECKINS_WRITE");
    pub const PASSES_READ: Permission = Permission("PASSES_READ");
    pub const PASSES_INSZNUMBERS_READ: Permission = Permission("PASSES_INSZNUMBERS_READ");
    pub const PASSES_CHIPNUMBERS_READ: Permission = Permission("PASSES_CHIPNUMBERS_READ");
    pub const EVENTS_READ: Permission = Permission("EVENTS_READ");
    pub const REWARDS_READ: Permission = Permission("REWARDS_READ");
    pub const REWARDS_REDEEM: Permission = Permission("REWARDS_REDEEM");

    /// The permission of that name, if the specification knows it.
    pub fn parse(name: &str) -> Option<Permission> {
        ALL_PERMISSIONS.iter().find(|p| **p == name).map(|p| Permission(p))
    }

    pub fn name(self) -> &'static str {
        self.0
    }

    /// The Dutch label UiTPAS shows for it (publiq's own where its specification gives one).
    pub fn label(self) -> &'static str {
        match self.0 {
            "TARIFFS_READ" => "Tarieven opvragen",
            "TICKETSALES_SEARCH" => "Ticketsales zoeken",
            "TICKETSALES_REGISTER" => "Ticketsales registreren",
            "CHECKINS_READ" => "Check-ins opvragen",
            "CHECKINS_WRITE" => "Punten sparen",
            "PASSES_READ" => "Passen opvragen",
            "PASSES_INSZNUMBERS_READ" => "Passen opvragen op rijksregisternummer",
            "PASSES_CHIPNUMBERS_READ" => "Passen opvragen op chipnummer",
            "EVENTS_READ" => "Activiteiten opvragen",
            "ORGANIZERS_SEARCH" => "Organisators zoeken",
            other => other,
        }
    }
}

/// What a client may do: per organizer id, its permissions.
pub type Grants = BTreeMap<String, BTreeSet<Permission>>;

/// The permissions a checkout needs for the organizers it sells for.
pub const CHECKOUT_PERMISSIONS: [Permission; 11] = [
    Permission::TARIFFS_READ,
    Permission::TICKETSALES_REGISTER,
    Permission::TICKETSALES_SEARCH,
    Permission::CHECKINS_READ,
    Permission::CHECKINS_WRITE,
    Permission::PASSES_READ,
    Permission::PASSES_INSZNUMBERS_READ,
    Permission::PASSES_CHIPNUMBERS_READ,
    Permission::EVENTS_READ,
    Permission::REWARDS_READ,
    Permission::REWARDS_REDEEM,
];

/// The client the checkout service uses against its embedded sandbox.
pub const CHECKOUT_CLIENT_ID: &str = "uitpas-checkout-sandbox";
/// A second customer of the same platform: its organizer is [`OTHER_ORGANIZER`].
pub const CUSTOMER_B_CLIENT_ID: &str = "sandbox-customer-b";
/// A client that may read tariffs and search sales of the test organizer, but not register.
pub const NO_REGISTER_CLIENT_ID: &str = "sandbox-no-register";

/// An umbrella organization's client: the test organizer with an `_ALL` permission, and
/// [`OTHER_ORGANIZER`] as its linked organizer (`linkedOrganizers`), which it may sell for but
/// not search the sales of.
pub const LINKED_CLIENT_ID: &str = "sandbox-linked";

/// What [`LINKED_CLIENT_ID`] may do for the test organizer: sell, search, and read every event of
/// it (`EVENTS_READ_ALL`, publiq's since 2026-08).
const LINKED_CLIENT_PERMISSIONS: [Permission; 5] = [
    Permission::TARIFFS_READ,
    Permission::TICKETSALES_REGISTER,
    Permission::TICKETSALES_SEARCH,
    Permission::PASSES_READ,
    Permission("EVENTS_READ_ALL"),
];

/// A client the sandbox knows: its secret and what it may do at start.
#[derive(Debug, Clone, Copy)]
pub struct KnownClient {
    pub id: &'static str,
    pub secret: &'static str,
    pub organizer: &'static str,
    pub permissions: &'static [Permission],
    /// An organizer linked to `organizer`, and what the client may do for it.
    pub linked: Option<(&'static str, &'static [Permission])>,
}

pub const KNOWN_CLIENTS: [KnownClient; 4] = [
    KnownClient {
        id: CHECKOUT_CLIENT_ID,
        secret: "sandbox",
        organizer: TEST_ORGANIZER,
        permissions: &CHECKOUT_PERMISSIONS,
        linked: None,
    },
    KnownClient {
        id: CUSTOMER_B_CLIENT_ID,
        secret: "sandbox-b",
        organizer: OTHER_ORGANIZER,
        permissions: &CHECKOUT_PERMISSIONS,
        linked: None,
    },
    KnownClient {
        id: NO_REGISTER_CLIENT_ID,
        secret: "sandbox-nr",
        organizer: TEST_ORGANIZER,
        permissions: &[Permission::TARIFFS_READ, Permission::TICKETSALES_SEARCH],
        linked: None,
    },
    KnownClient {
        id: LINKED_CLIENT_ID,
        secret: "sandbox-l",
        organizer: TEST_ORGANIZER,
        permissions: &LINKED_CLIENT_PERMISSIONS,
        linked: Some((
            OTHER_ORGANIZER,
            &[Permission::TARIFFS_READ, Permission::TICKETSALES_REGISTER],
        )),
    },
];

/// The known client of that id, if it is one.
pub fn known(client_id: &str) -> Option<&'static KnownClient> {
    KNOWN_CLIENTS.iter().find(|c| c.id == client_id)
}

/// Whether the token server takes these credentials: a known client needs its own secret; any
/// other client id is taken with any (non-empty) secret.
pub fn credentials_valid(client_id: &str, secret: &str) -> bool {
    known(client_id).is_none_or(|c| c.secret == secret)
}

/// What a client may do before anyone changed it, per organizer (its own first).
fn initial(client_id: &str) -> Vec<(&'static str, &'static [Permission])> {
    match known(client_id) {
        Some(c) => [(c.organizer, c.permissions)].into_iter().chain(c.linked).collect(),
        None => vec![(TEST_ORGANIZER, &CHECKOUT_PERMISSIONS)],
    }
}

/// The caller of an API operation, as its bearer token tells (set by the token check).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller(pub String);

/// What every client may do: the initial grants, unless replaced.
#[derive(Debug, Default)]
pub struct Clients {
    replaced: HashMap<String, Grants>,
}

impl Clients {
    /// The grants of a client, as `GET /permissions` lists them.
    pub fn grants(&self, client_id: &str) -> Grants {
        if let Some(grants) = self.replaced.get(client_id) {
            return grants.clone();
        }
        initial(client_id)
            .into_iter()
            .map(|(organizer, permissions)| (organizer.to_owned(), permissions.iter().copied().collect()))
            .collect()
    }

    /// The organizer a client's organizer is linked to (`linkedOrganizers`): a known client's,
    /// until its permissions are replaced (then every organizer is listed on its own).
    fn linked(&self, client_id: &str) -> Option<(&'static str, &'static str)> {
        if self.replaced.contains_key(client_id) {
            return None;
        }
        known(client_id).and_then(|c| c.linked.map(|(linked, _)| (linked, c.organizer)))
    }

    /// `GET /permissions` for a client: each organizer with its card systems, its permissions
    /// (`permissions` is deprecated upstream in favour of `permissionDetails`; both are given),
    /// each with the card systems it applies to, and its linked organizers.
    pub fn answer(&self, client_id: &str) -> Vec<Value> {
        let grants = self.grants(client_id);
        let linked = self.linked(client_id);
        let details = |organizer_id: &str, permissions: &BTreeSet<Permission>| -> Vec<Value> {
            let card_system_ids: Vec<i64> = dataset::organizer_card_systems(organizer_id)
                .iter()
                .map(|cs| cs.id)
                .collect();
            permissions
                .iter()
                .map(|p| json!({ "id": p.name(), "label": { "nl": p.label() }, "cardSystemIds": card_system_ids }))
                .collect()
        };
        grants
            .iter()
            .filter(|(organizer_id, permissions)| {
                !permissions.is_empty() && linked.is_none_or(|(l, _)| l != organizer_id.as_str())
            })
            .map(|(organizer_id, permissions)| {
                let mut entry = json!({
                    "organizer": organizer_json(organizer_id),
                    "permissions": permissions.iter().map(|p| p.name()).collect::<Vec<_>>(),
                    "permissionDetails": details(organizer_id, permissions),
                });
                if let Some((linked_id, _)) = linked.filter(|(_, parent)| parent == organizer_id)
                    && let Some(linked_permissions) = grants.get(linked_id).filter(|p| !p.is_empty())
                {
                    entry["linkedOrganizers"] = json!([{
                        "organizer": organizer_json(linked_id),
                        "permissionDetails": details(linked_id, linked_permissions),
                    }]);
                }
                entry
            })
            .collect()
    }

    /// Replaces what a client may do.
    pub fn replace(&mut self, client_id: &str, grants: Grants) {
        self.replaced.insert(client_id.to_owned(), grants);
    }

    /// Puts a client back to what it could do at start.
    pub fn reset(&mut self, client_id: &str) {
        self.replaced.remove(client_id);
    }

    /// Whether a client holds `permission` for `organizer`.
    pub fn allows(&self, client_id: &str, permission: Permission, organizer: &str) -> bool {
        match self.replaced.get(client_id) {
            Some(grants) => grants.get(organizer).is_some_and(|p| p.contains(&permission)),
            None => initial(client_id)
                .iter()
                .any(|(own, permissions)| *own == organizer && permissions.contains(&permission)),
        }
    }

    /// Whether a client holds `permission` for at least one organizer.
    pub fn allows_anywhere(&self, client_id: &str, permission: Permission) -> bool {
        match self.replaced.get(client_id) {
            Some(grants) => grants.values().any(|p| p.contains(&permission)),
            None => initial(client_id).iter().any(|(_, p)| p.contains(&permission)),
        }
    }
}

/// An organizer as `GET /permissions` names it: its id, and for one of the dataset its name,
/// address and card systems.
fn organizer_json(organizer_id: &str) -> Value {
    let mut organizer = json!({ "id": organizer_id });
    if let Some(known) = dataset::organizer(organizer_id) {
        organizer["name"] = json!(known.name);
        organizer["address"] = json!({ "postalCode": known.postal_code, "city": known.city });
    }
    let card_systems = dataset::organizer_card_systems(organizer_id);
    if !card_systems.is_empty() {
        organizer["cardSystems"] = card_systems
            .iter()
            .map(|cs| json!({ "id": cs.id, "name": cs.name }))
            .collect();
    }
    organizer
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_permission_name_parses_and_nothing_else() {
        for name in ALL_PERMISSIONS {
            assert_eq!(Permission::parse(name).map(Permission::name), Some(name));
        }
        assert_eq!(Permission::parse("tariffs_read"), None);
        assert_eq!(Permission::parse("TICKETSALES_DELETE"), None);
        for p in CHECKOUT_PERMISSIONS {
            assert!(ALL_PERMISSIONS.contains(&p.name()), "{p:?}");
        }
    }

    #[test]
    fn known_clients_need_their_secret_and_others_any() {
        assert!(credentials_valid(CHECKOUT_CLIENT_ID, "sandbox"));
        assert!(!credentials_valid(CHECKOUT_CLIENT_ID, "secret"));
        assert!(credentials_valid(CUSTOMER_B_CLIENT_ID, "sandbox-b"));
        assert!(!credentials_valid(NO_REGISTER_CLIENT_ID, "sandbox"));
        assert!(credentials_valid("shop", "anything"));
    }

    #[test]
    fn a_replacement_decides_alone_until_reset() {
        let mut clients = Clients::default();
        let register = Permission::TICKETSALES_REGISTER;
        assert!(clients.allows("shop", register, TEST_ORGANIZER));
        assert!(!clients.allows("shop", register, OTHER_ORGANIZER));
        assert!(clients.allows(CUSTOMER_B_CLIENT_ID, register, OTHER_ORGANIZER));
        assert!(!clients.allows(NO_REGISTER_CLIENT_ID, register, TEST_ORGANIZER));
        assert!(clients.allows(NO_REGISTER_CLIENT_ID, Permission::TARIFFS_READ, TEST_ORGANIZER));

        clients.replace(
            "shop",
            Grants::from([(OTHER_ORGANIZER.to_owned(), BTreeSet::from([register]))]),
        );
        assert!(!clients.allows("shop", register, TEST_ORGANIZER));
        assert!(clients.allows("shop", register, OTHER_ORGANIZER));
        assert!(!clients.allows_anywhere("shop", Permission::PASSES_READ));
        assert_eq!(clients.grants("shop").len(), 1);

        clients.reset("shop");
        assert!(clients.allows("shop", register, TEST_ORGANIZER));
        assert!(clients.allows_anywhere("shop", Permission::PASSES_READ));
    }

    #[test]
    fn the_linked_client_is_answered_with_an_all_permission_and_a_linked_organizer() {
        let mut clients = Clients::default();
        let register = Permission::TICKETSALES_REGISTER;
        assert!(clients.allows(LINKED_CLIENT_ID, register, OTHER_ORGANIZER));
        assert!(!clients.allows(LINKED_CLIENT_ID, Permission::TICKETSALES_SEARCH, OTHER_ORGANIZER));
        let answer = clients.answer(LINKED_CLIENT_ID);
        assert_eq!(answer.len(), 1, "{answer:?}");
        assert_eq!(answer[0]["organizer"]["id"], TEST_ORGANIZER);
        assert!(
            answer[0]["permissions"]
                .as_array()
                .unwrap()
                .contains(&json!("EVENTS_READ_ALL"))
        );
        let linked = &answer[0]["linkedOrganizers"][0];
        assert_eq!(linked["organizer"]["id"], OTHER_ORGANIZER);
        assert_eq!(linked["permissionDetails"][0]["cardSystemIds"], json!([1]));
        assert!(linked.get("permissions").is_none());

        // Replaced, every organizer is listed on its own.
        clients.replace(LINKED_CLIENT_ID, clients.grants(LINKED_CLIENT_ID));
        assert_eq!(clients.answer(LINKED_CLIENT_ID).len(), 2);
    }
}
