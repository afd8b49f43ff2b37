//! GET /agreement-templates: lists agreement templates.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::entrypoints::http::serve(shared::entrypoints::http::handlers::templates::list_templates)
        .await
}
