//! POST /agreement-templates/{id}/activate: activates a template.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::entrypoints::http::serve(
        shared::entrypoints::http::handlers::templates::activate_template,
    )
    .await
}
