//! UiTPAS `GET /permissions`: the organizers a client may act for.

use reqwest::Method;
use serde::Deserialize;

use super::{UitpasClient, UpstreamError};

impl UitpasClient {
    /// `GET /permissions`: the organizers this client may act for, with its permissions.
    pub async fn permissions(&self) -> Result<Vec<OrganizerPermissionsAnswer>, UpstreamError> {
        self.call("get-permissions", Method::GET, &self.api("/permissions"), &[], None)
            .await
    }
}

/// One organizer of `GET /permissions`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrganizerPermissionsAnswer {
    pub organizer: OrganizerRef,
    /// Deprecated by publiq in favour of `permissionDetails`; read both.
    #[serde(default)]
    pub permissions: Vec<String>,
    #[serde(default)]
    pub permission_details: Vec<PermissionDetail>,
    #[serde(default)]
    pub linked_organizers: Vec<LinkedOrganizerPermissions>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LinkedOrganizerPermissions {
    pub organizer: OrganizerRef,
    #[serde(default)]
    pub permission_details: Vec<PermissionDetail>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrganizerRef {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    /// The card systems (regions) the organizer takes part in.
    #[serde(default)]
    pub card_systems: Vec<CardSystemRef>,
}

/// A card system (a region's UiTPAS, e.g. "UiTPAS Regio Gent") as `GET /permissions` names it.
#[derive(Debug, Clone, Deserialize)]
pub struct CardSystemRef {
    pub id: i64,
    #[serde(default)]
    pub name: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PermissionDetail {
    pub id: String,
    /// The card systems the permission applies to (empty: UiTPAS did not say).
    #[serde(default)]
    pub card_system_ids: Vec<i64>,
}
