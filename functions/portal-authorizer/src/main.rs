//! The portal routes' Lambda authorizer: a portal link token or the customer identity provider's JWT.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::entrypoints::authorizer::serve_portal_authorizer().await
}
