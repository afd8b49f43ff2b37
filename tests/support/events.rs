//! The events the local stack's EventBridge received (`GET /_local/events`), by agreement.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::Value;

use crate::api::Api;

/// The events published so far about these agreements, by agreement id, oldest first.
pub async fn events_of(api: &Api, agreements: &[&str]) -> HashMap<String, Vec<Value>> {
    let all = api.get("/_local/events").await;
    assert_eq!(all.status, StatusCode::OK);
    let mut by_agreement: HashMap<String, Vec<Value>> = HashMap::new();
    for event in all.body.as_array().cloned().unwrap_or_default() {
        let agreement = event["detail"]["agreement"]["id"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if agreements.contains(&agreement.as_str()) {
            by_agreement.entry(agreement).or_default().push(event);
        }
    }
    by_agreement
}

/// Waits until `want` events of these agreements are published, then a little longer to see
/// that no more come.
pub async fn settled_events(
    api: &Api,
    agreements: &[&str],
    want: usize,
) -> HashMap<String, Vec<Value>> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let events = events_of(api, agreements).await;
        let n: usize = events.values().map(Vec::len).sum();
        if n >= want || Instant::now() > deadline {
            tokio::time::sleep(Duration::from_secs(2)).await;
            return events_of(api, agreements).await;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

pub fn kinds(events: &[Value]) -> Vec<&str> {
    events
        .iter()
        .map(|e| e["detail-type"].as_str().unwrap_or_default())
        .collect()
}
