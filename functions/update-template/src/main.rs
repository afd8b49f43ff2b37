//! PATCH /agreement-templates/{id}: changes a template's writable fields.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::entrypoints::http::serve(
        shared::entrypoints::http::handlers::templates::update_template,
    )
    .await
}
