//! POST /agreement-templates/{id}/deactivate: deactivates a template.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::entrypoints::http::serve(
        shared::entrypoints::http::handlers::templates::deactivate_template,
    )
    .await
}
