//! GET /portal: the self-service page (public; it holds no data).

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::entrypoints::http::serve_stateless(shared::entrypoints::http::handlers::portal::page)
        .await
}
