//! GET /agreement-templates/{id}: reads one agreement template.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::entrypoints::http::serve(shared::entrypoints::http::handlers::templates::get_template)
        .await
}
