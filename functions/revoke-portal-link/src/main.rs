//! POST /portal-links/{id}/revoke: the link's token is refused from then on.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::entrypoints::http::serve(
        shared::entrypoints::http::handlers::portal_links::revoke_portal_link,
    )
    .await
}
