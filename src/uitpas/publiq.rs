//! publiq's two environments and the hosts of its APIs in each: the one table the settings'
//! checks (`Config::validate`) and the customers' clients both read.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Which of publiq's environments a customer's credentials belong to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    Test,
    Production,
}

// Stored as text; an unknown stored environment is an error, never the test environment.
crate::text_enum::text_enum!(Environment {
    Test = "test",
    Production = "production",
});

/// One of publiq's APIs: the setting that points at it, and its host and URL in each environment.
pub struct PubliqHost {
    pub setting: &'static str,
    pub test_host: &'static str,
    pub production_host: &'static str,
    pub test_url: &'static str,
    pub production_url: &'static str,
}

impl PubliqHost {
    pub fn url(&self, environment: Environment) -> &'static str {
        match environment {
            Environment::Test => self.test_url,
            Environment::Production => self.production_url,
        }
    }
}

/// publiq's APIs, in the order (UiTPAS API, token endpoint, UiTdatabank Entry API).
pub const PUBLIQ_HOSTS: [PubliqHost; 3] = [
    PubliqHost {
        setting: "UITPAS_BASE_URL",
        test_host: "api-test.uitpas.be",
        production_host: "api.uitpas.be",
        test_url: "https://api-test.uitpas.be",
        production_url: "https://api.uitpas.be",
    },
    PubliqHost {
        setting: "UITPAS_TOKEN_URL",
        test_host: "account-test.uitid.be",
        production_host: "account.uitid.be",
        test_url: "https://account-test.uitid.be/realms/uitid/protocol/openid-connect/token",
        production_url: "https://account.uitid.be/realms/uitid/protocol/openid-connect/token",
    },
    PubliqHost {
        setting: "UITDATABANK_BASE_URL",
        test_host: "io-test.uitdatabank.be",
        production_host: "io.uitdatabank.be",
        test_url: "https://io-test.uitdatabank.be",
        production_url: "https://io.uitdatabank.be",
    },
];

/// Which of publiq's environments a host belongs to; `None` for any other host (a sandbox).
pub fn environment_of_host(host: &str) -> Option<Environment> {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    if PUBLIQ_HOSTS.iter().any(|h| h.test_host == host) {
        Some(Environment::Test)
    } else if PUBLIQ_HOSTS.iter().any(|h| h.production_host == host) {
        Some(Environment::Production)
    } else {
        None
    }
}

/// Which of publiq's environments a URL points at; `None` for other hosts or no URL.
pub fn environment_of_url(url: &str) -> Option<Environment> {
    environment_of_host(reqwest::Url::parse(url).ok()?.host_str()?)
}

/// The (UiTPAS API, token endpoint, UiTdatabank Entry API) URLs of an environment.
pub fn urls(environment: Environment) -> (String, String, String) {
    let [uitpas, token, entry] = &PUBLIQ_HOSTS;
    (
        uitpas.url(environment).into(),
        token.url(environment).into(),
        entry.url(environment).into(),
    )
}
