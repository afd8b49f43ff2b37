//! The e-mail queue's sender: portal links, reminders and receipts through SES, each at most once.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::entrypoints::email::serve_email_sender().await
}
