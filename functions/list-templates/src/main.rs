//! GET /agreement-templates: lists agreement templates.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::http::serve(shared::http::routes::templates::list_templates).await
}
