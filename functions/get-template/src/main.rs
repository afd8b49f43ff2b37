//! GET /agreement-templates/{id}: reads one agreement template.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::http::serve(shared::http::routes::templates::get_template).await
}
