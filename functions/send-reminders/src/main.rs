//! The daily reminder run: queues the reminders due today.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::entrypoints::schedule::serve_reminders().await
}
