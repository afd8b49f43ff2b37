//! What a request may address: a customer id kept within its path segment, next-page links
//! kept to the customers collection, and the opaque continuations handed to callers.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use reqwest::Url;
use serde::{Deserialize, Serialize};

use super::errors::{INVALID_CONTINUATION, INVALID_CUSTOMER_ID};
use super::PartnerCenterClient;
use crate::connectors::ConnectorError;

/// The path every customers page (and so every continuation) must have.
pub(super) const CUSTOMERS_PATH: &str = "/v1/customers";

impl PartnerCenterClient {
    /// `{base}/v1/customers/{customer_id}/{rest...}`, the id checked and encoded as one segment.
    pub(super) fn customer_url(
        &self,
        customer_id: &str,
        rest: &[&str],
    ) -> Result<Url, ConnectorError> {
        check_customer_id(customer_id)?;
        let mut url = self.inner.base_url.clone();
        {
            let mut segments = url.path_segments_mut().map_err(|()| {
                ConnectorError::Configuration("base_url cannot have a path".into())
            })?;
            segments.pop_if_empty();
            segments.extend(["v1", "customers", customer_id]);
            segments.extend(rest);
        }
        Ok(url)
    }

    /// `{base}{path_and_query}` for a path this client made or checked.
    pub(super) fn url_for(&self, path_and_query: &str) -> Result<Url, ConnectorError> {
        let base = self.inner.base_url.as_str().trim_end_matches('/');
        Url::parse(&format!("{base}{path_and_query}")).map_err(|error| {
            ConnectorError::Malformed(format!("cannot build a Partner Center URL: {error}"))
        })
    }

    /// Where `links.next.uri` points, as a path under the base URL; only the customers collection.
    pub(super) fn next_page_path(&self, uri: &str) -> Result<String, ConnectorError> {
        let uri = uri.trim();
        let path_and_query = if let Ok(absolute) = Url::parse(uri) {
            let base = &self.inner.base_url;
            if absolute.origin() != base.origin() {
                return Err(ConnectorError::Malformed(
                    "the next page link points to another host".into(),
                ));
            }
            let prefix = base.path().trim_end_matches('/');
            let path = absolute.path();
            let path = path.strip_prefix(prefix).unwrap_or(path);
            match absolute.query() {
                Some(query) => format!("{path}?{query}"),
                None => path.to_string(),
            }
        } else if uri.starts_with("/v1/") {
            uri.to_string()
        } else if uri.starts_with('/') {
            // Partner Center's links are relative to the API version root ("/customers?...").
            format!("/v1{uri}")
        } else {
            format!("/v1/{uri}")
        };
        check_continuation_path(&path_and_query)?;
        Ok(path_and_query)
    }
}

/// Partner Center customer ids are tenant GUIDs; anything that could leave its path segment is
/// refused before a request is made.
fn check_customer_id(customer_id: &str) -> Result<(), ConnectorError> {
    let valid = !customer_id.is_empty()
        && customer_id.len() <= 128
        && customer_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        && customer_id.starts_with(|c: char| c.is_ascii_alphanumeric());
    if valid {
        Ok(())
    } else {
        Err(ConnectorError::Refused {
            code: INVALID_CUSTOMER_ID.into(),
            detail: "a customer id is letters, digits, '-' and '_' (a tenant GUID)".into(),
        })
    }
}

fn check_continuation_path(path_and_query: &str) -> Result<(), ConnectorError> {
    let (path, query) = path_and_query
        .split_once('?')
        .unwrap_or((path_and_query, ""));
    let suspicious =
        |s: &str| s.contains('#') || s.contains('\\') || s.chars().any(char::is_control);
    if path != CUSTOMERS_PATH || suspicious(query) {
        return Err(ConnectorError::Refused {
            code: INVALID_CONTINUATION.into(),
            detail: "the continuation does not lead to the next customers page".into(),
        });
    }
    Ok(())
}

/// The opaque continuation handed to callers: the next page's path and its continuation token,
/// as base64url JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Continuation {
    #[serde(rename = "u")]
    pub(super) uri: String,
    #[serde(rename = "t", default, skip_serializing_if = "Option::is_none")]
    pub(super) token: Option<String>,
}

impl Continuation {
    pub(super) fn encode(&self) -> String {
        // Serialising two strings cannot fail; an empty continuation would only restart the list.
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).unwrap_or_default())
    }

    pub(super) fn decode(encoded: &str) -> Result<Self, ConnectorError> {
        let invalid = || ConnectorError::Refused {
            code: INVALID_CONTINUATION.into(),
            detail: "the continuation is not one this client made".into(),
        };
        let bytes = URL_SAFE_NO_PAD
            .decode(encoded.trim())
            .map_err(|_| invalid())?;
        let continuation: Continuation = serde_json::from_slice(&bytes).map_err(|_| invalid())?;
        check_continuation_path(&continuation.uri)?;
        Ok(continuation)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connectors::partner_center::test_client as client;

    #[test]
    fn customer_ids_stay_in_their_segment() {
        let client = client();
        let url = client
            .customer_url("1b2c-3d_4", &["agreements"])
            .expect("valid id");
        assert_eq!(url.path(), "/v1/customers/1b2c-3d_4/agreements");
        for bad in [
            "",
            "..",
            ".",
            "a/b",
            "../partners",
            "a%2Fb",
            "a?b",
            "a#b",
            "a b",
            "ä",
        ] {
            assert!(
                matches!(
                    client.customer_url(bad, &["agreements"]),
                    Err(ConnectorError::Refused { ref code, .. }) if code == INVALID_CUSTOMER_ID
                ),
                "{bad:?} must be refused"
            );
        }
    }

    #[test]
    fn next_links_resolve_only_to_the_customers_collection() {
        let client = client();
        assert_eq!(
            client
                .next_page_path("/customers?size=3&seekOperation=Next")
                .expect("relative to v1"),
            "/v1/customers?size=3&seekOperation=Next"
        );
        assert_eq!(
            client
                .next_page_path("/v1/customers?size=3&seekOperation=Next")
                .expect("with v1"),
            "/v1/customers?size=3&seekOperation=Next"
        );
        assert_eq!(
            client.next_page_path("customers?size=3").expect("no slash"),
            "/v1/customers?size=3"
        );
        assert_eq!(
            client
                .next_page_path("http://127.0.0.1:9/v1/customers?size=3")
                .expect("same origin"),
            "/v1/customers?size=3"
        );
        for bad in [
            "https://evil.example/v1/customers",
            "/v1/customers/../partners",
            "/v1/invoices?size=3",
            "/v1/customers/x/agreements",
        ] {
            assert!(client.next_page_path(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn continuations_round_trip_and_reject_forgeries() {
        let continuation = Continuation {
            uri: "/v1/customers?size=3&seekOperation=Next".into(),
            token: Some("abc,def=".into()),
        };
        assert_eq!(
            Continuation::decode(&continuation.encode()).expect("round trip"),
            continuation
        );
        let forged = Continuation {
            uri: "/v1/customers/x/agreements".into(),
            token: None,
        };
        for bad in [
            "",
            "not base64!",
            &forged.encode(),
            &URL_SAFE_NO_PAD.encode("[1]"),
        ] {
            assert!(
                matches!(
                    Continuation::decode(bad),
                    Err(ConnectorError::Refused { ref code, .. }) if code == INVALID_CONTINUATION
                ),
                "{bad:?}"
            );
        }
    }
}
