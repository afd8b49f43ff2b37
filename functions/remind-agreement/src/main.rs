//! POST /agreements/{id}/remind: e-mails the signing contact a fresh portal link now.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::entrypoints::http::serve(
        shared::entrypoints::http::handlers::portal_links::remind_agreement,
    )
    .await
}
