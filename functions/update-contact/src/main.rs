//! PATCH /accounts/{id}/contacts/{contact_id}: changes a contact, or makes it the primary one.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::entrypoints::http::serve(shared::entrypoints::http::handlers::accounts::update_contact)
        .await
}
