//! POST /accounts/{id}/portal-links: a personal portal link for a contact of an account, e-mailed on request.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::entrypoints::http::serve(
        shared::entrypoints::http::handlers::portal_links::create_portal_link,
    )
    .await
}
