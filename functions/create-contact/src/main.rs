//! POST /accounts/{id}/contacts: adds a contact to an account.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::http::serve(shared::http::routes::accounts::create_contact).await
}
