//! POST /agreement-templates: creates an agreement template.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::entrypoints::http::serve(
        shared::entrypoints::http::handlers::templates::create_template,
    )
    .await
}
