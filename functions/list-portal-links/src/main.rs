//! GET /accounts/{id}/portal-links: an account's portal links.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::entrypoints::http::serve(
        shared::entrypoints::http::handlers::portal_links::list_portal_links,
    )
    .await
}
