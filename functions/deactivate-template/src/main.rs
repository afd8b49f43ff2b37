//! POST /agreement-templates/{id}/deactivate: deactivates a template.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::http::serve(shared::http::routes::templates::deactivate_template).await
}
