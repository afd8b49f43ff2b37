//! The ceiling: conditional PutItem of agreement items from a bare loop, with exactly
//! `concurrency` requests in flight, and single-request probes of the endpoint's service times.

use std::time::{Duration, Instant as Clock};

use futures::stream::{self, StreamExt};
use shared::model::{Agreement, AgreementTemplate, Id};
use shared::store::Store;

use crate::error::{Context, Failure, Result};

/// One conditional PutItem of a new agreement item: the very request the worker sends
/// (`attribute_not_exists(PK)`, ALL_OLD on a failed condition).
async fn put_one(store: &Store, template: &AgreementTemplate, job: &Id) -> Result<()> {
    let (agreement, event) = crate::worker_item::agreement_item(template, Id::generate(), job)?;
    let existing: Option<Agreement> = store
        .put_agreement_in_slot(&agreement, &[event])
        .await
        .context("ceiling PutItem")?;
    match existing {
        None => Ok(()),
        Some(_) => Err(Failure::new(
            "ceiling PutItem: a fresh key was taken (the table is not fresh)",
        )),
    }
}

/// `n` conditional puts with exactly `concurrency` in flight; answers the time they took.
pub async fn ceiling(
    store: &Store,
    template: &AgreementTemplate,
    n: usize,
    concurrency: usize,
) -> Result<Duration> {
    let job = Id::generate();
    let started = Clock::now();
    let mut done = stream::iter(0..n)
        .map(|_| put_one(store, template, &job))
        .buffer_unordered(concurrency.max(1));
    while let Some(result) = done.next().await {
        result?;
    }
    Ok(started.elapsed())
}

/// Median service times of single requests (nothing else in flight).
pub struct Probe {
    pub put: Duration,
    pub chunk_query: Duration,
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort_unstable();
    samples.get(samples.len() / 2).copied().unwrap_or_default()
}

/// Times `rounds` single PutItems of agreement items into `put_store`, and `rounds` single
/// Queries of one chunk of the provider's accounts in `chunk_store`, as the worker reads them
/// (the same request: `Store::provider_account_chunk`).
pub async fn probe(
    put_store: &Store,
    chunk_store: &Store,
    template: &AgreementTemplate,
    chunk_size: usize,
    rounds: usize,
) -> Result<Probe> {
    let job = Id::generate();
    let mut puts = Vec::with_capacity(rounds);
    let mut queries = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let started = Clock::now();
        put_one(put_store, template, &job).await?;
        puts.push(started.elapsed());

        let started = Clock::now();
        chunk_store
            .provider_account_chunk(&template.provider_id, "probe", "", chunk_size)
            .await
            .map_err(|e| Failure::new(format!("probe Query: {e}")))?;
        queries.push(started.elapsed());
    }
    Ok(Probe {
        put: median(puts),
        chunk_query: median(queries),
    })
}
