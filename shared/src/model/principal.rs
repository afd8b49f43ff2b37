//! Who is calling, as read from the JWT claims the API's authorizer verified.

use std::collections::HashMap;

use crate::error::ServiceError;
use crate::model::Id;

pub const STAFF_SCOPE: &str = "agreements.admin";
pub const PORTAL_SCOPE: &str = "agreements.portal";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// Partner staff: every staff route.
    Staff { subject: String },
    /// A customer's user on the self-service portal: only its own account.
    Customer {
        subject: String,
        account_id: Id,
        contact_id: Id,
    },
}

impl Principal {
    /// Reads the verified claims. No claims at all is a 401; claims without a role of this
    /// product, or a portal role without its account, is a 403.
    pub fn from_claims(claims: Option<&HashMap<String, String>>) -> Result<Self, ServiceError> {
        let claims = match claims {
            Some(c) if !c.is_empty() => c,
            _ => {
                return Err(ServiceError::Unauthorized(
                    "a bearer token is required".into(),
                ))
            }
        };
        let subject = claims.get("sub").cloned().unwrap_or_default();
        let scopes = scopes(claims);
        if scopes.contains(&STAFF_SCOPE) {
            return Ok(Principal::Staff { subject });
        }
        if scopes.contains(&PORTAL_SCOPE) {
            let account_id = claims.get("account_id").and_then(|v| Id::parse(v));
            let contact_id = claims.get("contact_id").and_then(|v| Id::parse(v));
            return match (account_id, contact_id) {
                (Some(account_id), Some(contact_id)) => Ok(Principal::Customer {
                    subject,
                    account_id,
                    contact_id,
                }),
                _ => Err(ServiceError::Forbidden(
                    "the portal token carries no valid account_id and contact_id".into(),
                )),
            };
        }
        Err(ServiceError::Forbidden(
            "the token carries no scope of this API".into(),
        ))
    }

    pub fn require_staff(&self) -> Result<(), ServiceError> {
        match self {
            Principal::Staff { .. } => Ok(()),
            Principal::Customer { .. } => Err(ServiceError::Forbidden(
                "this route is for partner staff (scope agreements.admin)".into(),
            )),
        }
    }

    pub fn subject(&self) -> &str {
        match self {
            Principal::Staff { subject } | Principal::Customer { subject, .. } => subject,
        }
    }
}

/// The roles a token grants: `scope` (OAuth) or `scp` (Entra ID's delegated scopes), each a
/// space-separated string, and `roles` (Entra ID's app roles, a JSON array). API Gateway's JWT
/// authorizer hands every claim over as a string, an array one as `[a b]`.
fn scopes(claims: &HashMap<String, String>) -> Vec<&str> {
    ["scope", "scp", "roles"]
        .iter()
        .filter_map(|k| claims.get(*k))
        .flat_map(|v| v.trim_matches(|c| c == '[' || c == ']').split([' ', ',']))
        .filter(|s| !s.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn no_claims_is_unauthorized() {
        assert!(matches!(
            Principal::from_claims(None),
            Err(ServiceError::Unauthorized(_))
        ));
        assert!(matches!(
            Principal::from_claims(Some(&HashMap::new())),
            Err(ServiceError::Unauthorized(_))
        ));
    }

    #[test]
    fn staff_and_customer_scopes() {
        let staff = claims(&[("sub", "u1"), ("scope", "openid agreements.admin")]);
        assert_eq!(
            Principal::from_claims(Some(&staff)).ok(),
            Some(Principal::Staff {
                subject: "u1".into()
            })
        );
        let account = Id::generate();
        let contact = Id::generate();
        let customer = claims(&[
            ("scope", "[agreements.portal]"),
            ("account_id", account.as_str()),
            ("contact_id", contact.as_str()),
        ]);
        assert!(matches!(
            Principal::from_claims(Some(&customer)),
            Ok(Principal::Customer { account_id, .. }) if account_id == account
        ));
    }

    #[test]
    fn entra_id_scopes_and_app_roles_as_api_gateway_passes_them() {
        // A user's token of an Entra ID app exposing the scope `agreements.admin`.
        let delegated = claims(&[("sub", "u1"), ("scp", "User.Read agreements.admin")]);
        assert!(matches!(
            Principal::from_claims(Some(&delegated)),
            Ok(Principal::Staff { .. })
        ));
        // An application's token (client credentials) granted the app role `agreements.admin`:
        // API Gateway passes the array claim `roles` as `[a b]`.
        let app = claims(&[
            ("sub", "app"),
            ("roles", "[agreements.reader agreements.admin]"),
        ]);
        assert!(matches!(
            Principal::from_claims(Some(&app)),
            Ok(Principal::Staff { .. })
        ));
        // A role of another app, or a claim that only resembles one, is no role of this API.
        for other in [
            claims(&[("roles", "[agreements.reader]")]),
            claims(&[("scp", "agreements.admins")]),
            claims(&[("roles", "[Agreements.Admin]")]),
        ] {
            assert!(matches!(
                Principal::from_claims(Some(&other)),
                Err(ServiceError::Forbidden(_))
            ));
        }
    }

    #[test]
    fn other_tokens_are_forbidden() {
        let other = claims(&[("sub", "u1"), ("scope", "agreements.administrator")]);
        assert!(matches!(
            Principal::from_claims(Some(&other)),
            Err(ServiceError::Forbidden(_))
        ));
        let portal_without_account = claims(&[("scope", "agreements.portal")]);
        assert!(matches!(
            Principal::from_claims(Some(&portal_without_account)),
            Err(ServiceError::Forbidden(_))
        ));
    }
}
