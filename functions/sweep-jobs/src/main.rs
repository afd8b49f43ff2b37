//! On a schedule: resumes jobs that made no progress, and ends as failed those that still make
//! none after their resumes.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::entrypoints::schedule::serve_job_sweep().await
}
