//! GET /accounts/{id}/contacts: lists an account's contacts.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::entrypoints::http::serve(shared::entrypoints::http::handlers::accounts::list_contacts)
        .await
}
