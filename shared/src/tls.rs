//! The one TLS stack of the functions: rustls with the aws-lc-rs crypto provider, the one the
//! AWS SDK's HTTPS client uses. reqwest is built without a provider of its own, so every
//! reqwest client is made here, after the process's provider is installed.

/// A reqwest client builder on rustls with aws-lc-rs.
pub fn http_client() -> reqwest::ClientBuilder {
    // Err means a provider is installed already (by an earlier call, or by the caller): the
    // same one, as nothing else in the functions installs one.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    reqwest::Client::builder().use_rustls_tls()
}

/// The AWS SDK's default HTTPS client (hyper 1, rustls with aws-lc-rs, the platform's root
/// certificates, the proxy settings of the environment), shared by every SDK client of the
/// process, except that it reads the root certificates on its first request: the SDK's own
/// default reads them when a client is constructed, which is a cold start's largest cost after
/// the runtime itself (a few hundred files under /etc/ssl/certs here).
pub fn aws_http_client() -> aws_smithy_runtime_api::client::http::SharedHttpClient {
    use aws_smithy_http_client::{proxy::ProxyConfig, tls, Builder, ConnectorBuilder};
    let client = Builder::new().build_with_connector_fn(move |settings, components| {
        let mut connector = ConnectorBuilder::default().tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::AwsLc,
        ));
        connector.set_connector_settings(settings.cloned());
        if let Some(components) = components {
            connector.set_sleep_impl(components.sleep_impl());
        }
        connector.set_proxy_config(Some(ProxyConfig::from_env()));
        connector.build()
    });
    aws_smithy_runtime_api::client::http::SharedHttpClient::new(RootsOnFirstRequest(client))
}

/// An HTTP client that leaves out the SDK's check of the base configuration, whose only work for
/// the default client is to make a connector (and so load the root certificates) ahead of use.
#[derive(Debug)]
struct RootsOnFirstRequest(aws_smithy_runtime_api::client::http::SharedHttpClient);

impl aws_smithy_runtime_api::client::http::HttpClient for RootsOnFirstRequest {
    fn http_connector(
        &self,
        settings: &aws_smithy_runtime_api::client::http::HttpConnectorSettings,
        components: &aws_smithy_runtime_api::client::runtime_components::RuntimeComponents,
    ) -> aws_smithy_runtime_api::client::http::SharedHttpConnector {
        self.0.http_connector(settings, components)
    }

    fn connector_metadata(
        &self,
    ) -> Option<aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata> {
        self.0.connector_metadata()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn clients_build_however_often_they_are_made() {
        for _ in 0..2 {
            super::http_client().build().expect("an HTTPS client");
        }
    }
}
