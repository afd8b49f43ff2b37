//! POST /agreement-templates: creates an agreement template.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::http::serve(shared::http::routes::templates::create_template).await
}
