//! AWS SDK clients pointed at the local endpoint, and the table's creation through the shared
//! schema.

use std::time::Duration;

use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region};
use aws_sdk_dynamodb::config::Credentials;
use aws_sdk_dynamodb::error::DisplayErrorContext;
use aws_sdk_dynamodb::operation::describe_table::DescribeTableError;

use crate::intrinsics::REGION;

/// Why the table could not be made ready.
#[derive(Debug, thiserror::Error)]
#[error("DynamoDB table {table}: {message}")]
pub struct TableSetupError {
    table: String,
    message: String,
}

/// SDK configuration for the local endpoint with the dummy credentials moto accepts.
pub async fn sdk_config(endpoint: &str) -> aws_config::SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new("test", "test", None, None, "local"))
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(3))
                .operation_timeout(Duration::from_secs(30))
                .build(),
        )
        .load()
        .await
}

async fn table_exists(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
) -> Result<bool, TableSetupError> {
    match client.describe_table().table_name(table).send().await {
        Ok(_) => Ok(true),
        Err(error)
            if matches!(
                error.as_service_error(),
                Some(DescribeTableError::ResourceNotFoundException(_))
            ) =>
        {
            Ok(false)
        }
        Err(error) => Err(TableSetupError {
            table: table.to_string(),
            message: format!("DescribeTable failed: {}", DisplayErrorContext(error)),
        }),
    }
}

/// Creates the table from `shared`'s schema unless it exists; `reset` deletes it first.
pub async fn ensure_table(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    reset: bool,
) -> Result<(), TableSetupError> {
    let mut exists = table_exists(client, table).await?;
    if exists && reset {
        client
            .delete_table()
            .table_name(table)
            .send()
            .await
            .map_err(|e| TableSetupError {
                table: table.to_string(),
                message: format!("DeleteTable failed: {}", DisplayErrorContext(e)),
            })?;
        // Deletion is asynchronous on real DynamoDB; wait until the name is free.
        for _ in 0..50 {
            exists = table_exists(client, table).await?;
            if !exists {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        tracing::info!(table, "deleted the table (--reset-table)");
    }
    if exists {
        tracing::info!(table, "table exists; reusing it");
        return Ok(());
    }
    shared::store::schema::create_table(client, table)
        .await
        .map_err(|e| TableSetupError {
            table: table.to_string(),
            message: format!("CreateTable failed: {}", DisplayErrorContext(e)),
        })?;
    tracing::info!(table, "created the table");
    Ok(())
}
