//! POST /agreement-templates/{id}/activate: activates a template.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::http::serve(shared::http::routes::templates::activate_template).await
}
