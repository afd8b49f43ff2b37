//! GET /accounts/{id}/contacts: lists an account's contacts.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::http::serve(shared::http::routes::accounts::list_contacts).await
}
