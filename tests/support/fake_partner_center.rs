//! The fake Microsoft Partner Center (the `fake-partner-center` crate, whose binary serves the same
//! one to local runs) and Partner Center clients set up for it with quick retries.

use std::time::Duration;

pub use ::fake_partner_center::*;
use shared::connectors::partner_center::{
    AppSecret, PartnerCenterClient, PartnerCenterConfig, Secret, SecretSource,
};

/// A fake on a free loopback port.
pub async fn start() -> FakePartnerCenter {
    FakePartnerCenter::start()
        .await
        .unwrap_or_else(|e| panic!("cannot start the fake Partner Center: {e}"))
}

/// The fake's credentials and URLs, with short backoffs so retries don't slow the tests.
pub fn config_for(fake: &FakePartnerCenter) -> PartnerCenterConfig {
    let mut config = PartnerCenterConfig::new(
        TENANT_ID,
        CLIENT_ID,
        SecretSource::Inline(AppSecret {
            client_secret: Secret::new(CLIENT_SECRET),
            refresh_token: None,
        }),
    );
    config.base_url = fake.base_url().to_string();
    config.token_url = fake.token_url();
    config.timeout = Duration::from_secs(5);
    config.backoff_base = Duration::from_millis(20);
    config.max_retry_wait = Duration::from_secs(5);
    config
}

pub fn client_with(config: PartnerCenterConfig) -> PartnerCenterClient {
    PartnerCenterClient::new(config).unwrap_or_else(|e| panic!("invalid client config: {e}"))
}

pub fn client_for(fake: &FakePartnerCenter) -> PartnerCenterClient {
    client_with(config_for(fake))
}

/// A local stack whose Partner Center is `fake`: its tenant, client id and URLs as parameters,
/// the client secret where an operator puts it (the stack's generated secret), and `extra`
/// parameters beside them.
pub async fn stack_for(fake: &FakePartnerCenter, extra: &[(&str, String)]) -> crate::api::Api {
    let mut params = vec![
        ("PartnerCenterTenantId", TENANT_ID.to_string()),
        ("PartnerCenterClientId", CLIENT_ID.to_string()),
        ("PartnerCenterBaseUrl", fake.base_url().to_string()),
        ("PartnerCenterTokenUrl", fake.token_url()),
    ];
    params.extend_from_slice(extra);
    crate::api::Api::start_configured(&params, &[("PartnerCenterClientSecret", CLIENT_SECRET)], 1)
        .await
}

/// A fresh customer tenant id, in the GUID shape Partner Center gives them.
pub fn tenant() -> String {
    let u = ulid::Ulid::new().to_string().to_lowercase();
    format!(
        "{}-{}-{}-{}-{}",
        &u[0..8],
        &u[8..12],
        &u[12..16],
        &u[16..20],
        &u[20..26]
    )
}
