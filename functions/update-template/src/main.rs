//! PATCH /agreement-templates/{id}: changes a template's writable fields.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::http::serve(shared::http::routes::templates::update_template).await
}
