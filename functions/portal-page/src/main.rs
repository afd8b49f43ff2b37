//! GET /portal: the self-service page (public; it holds no data).

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::http::serve(shared::http::routes::portal::portal_page).await
}
