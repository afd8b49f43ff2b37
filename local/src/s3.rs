//! The template's S3 buckets, created in the local endpoint. A bucket is named
//! `<queue_prefix>-<logical id>` in lower case (S3 names are lower case and at most 63
//! characters), so stacks sharing one endpoint keep their own.

use std::collections::BTreeMap;

use crate::template::Template;

/// The bucket name of `logical_id` under `prefix`.
pub fn bucket_name(prefix: &str, logical_id: &str) -> String {
    let mut name: String = format!("{prefix}-{logical_id}")
        .to_ascii_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '-'
            }
        })
        .collect();
    name.truncate(63);
    name.trim_end_matches(['-', '.']).to_string()
}

/// Every `AWS::S3::Bucket` of the template: logical id → local bucket name.
pub fn buckets(template: &Template, prefix: &str) -> BTreeMap<String, String> {
    template
        .resources_of_type("AWS::S3::Bucket")
        .map(|(id, _)| (id.to_string(), bucket_name(prefix, id)))
        .collect()
}

/// Creates the buckets in the endpoint unless they exist.
pub async fn ensure_buckets(
    client: &aws_sdk_s3::Client,
    buckets: &BTreeMap<String, String>,
) -> Result<(), String> {
    for name in buckets.values() {
        match client.create_bucket().bucket(name).send().await {
            Ok(_) => tracing::info!(bucket = %name, "created the bucket"),
            Err(e) => {
                let owned = e.as_service_error().is_some_and(|s| {
                    s.is_bucket_already_owned_by_you() || s.is_bucket_already_exists()
                });
                if !owned {
                    return Err(format!(
                        "CreateBucket {name}: {}",
                        aws_sdk_s3::error::DisplayErrorContext(e)
                    ));
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_lower_case_and_short_enough() {
        assert_eq!(
            bucket_name("agreements-local", "ExportsBucket"),
            "agreements-local-exportsbucket"
        );
        let long = bucket_name(&"q".repeat(70), "ExportsBucket");
        assert!(long.len() <= 63);
    }
}
