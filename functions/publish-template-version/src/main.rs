//! POST /agreement-templates/{id}/versions: a new document version; with
//! `requires_reacceptance`, a job asks the accepted agreements to accept it.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::entrypoints::http::serve(
        shared::entrypoints::http::handlers::templates::publish_template_version,
    )
    .await
}
