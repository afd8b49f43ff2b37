//! The daily expiry run: templates past their `expires_on` end, with their pending agreements.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::entrypoints::schedule::serve_expiry().await
}
