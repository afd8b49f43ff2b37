//! GET /agreement-templates/{id}/versions: a template's published versions, oldest first.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::entrypoints::http::serve(
        shared::entrypoints::http::handlers::templates::list_template_versions,
    )
    .await
}
