//! Providers: create, read, list.

use crate::error::ServiceResult;
use crate::model::{Instant, NewProvider, Principal, Provider, ProviderPatch};
use crate::services::{change_versioned, known_id, not_found, PageRequest};
use crate::store::{Page, Store};

pub async fn create_provider(
    store: &Store,
    caller: &Principal,
    input: NewProvider,
) -> ServiceResult<Provider> {
    caller.require_staff()?;
    let provider = Provider::create(input, Instant::now())?;
    store.create(&provider).await?;
    tracing::info!(provider_id = %provider.id, "provider created");
    Ok(provider)
}

pub async fn get_provider(store: &Store, caller: &Principal, id: &str) -> ServiceResult<Provider> {
    caller.require_staff()?;
    let id = known_id(id, "provider")?;
    store
        .by_id(&id)
        .await?
        .ok_or_else(|| not_found("provider", &id))
}

pub async fn list_providers(
    store: &Store,
    caller: &Principal,
    page: &PageRequest,
) -> ServiceResult<Page<Provider>> {
    caller.require_staff()?;
    Ok(store.providers(page.spec()).await?)
}

/// Loads a provider for a write that names it; a missing one is a 404 of the provider.
pub async fn require_provider(store: &Store, id: &str) -> ServiceResult<Provider> {
    let id = known_id(id, "provider")?;
    let found: Option<Provider> = store.by_id(&id).await?;
    found.ok_or_else(|| not_found("provider", &id))
}

/// PATCH /providers/{id}: the patch applied under the stored version (If-Match: 412 when it
/// moved). The provider-account count is not written, so counts added meanwhile stay.
pub async fn update_provider(
    store: &Store,
    caller: &Principal,
    id: &str,
    patch: ProviderPatch,
    if_match: Option<u64>,
) -> ServiceResult<Provider> {
    caller.require_staff()?;
    let id = known_id(id, "provider")?;
    change_versioned(
        "provider",
        if_match,
        || require_provider(store, id.as_str()),
        |p| p.patched(patch.clone(), Instant::now()),
        |current, next| async move {
            store.update_provider(&next, current.version).await?;
            // The count may have moved since the read: answer what is stored.
            Ok(store.by_id::<Provider>(&next.id).await?.unwrap_or(next))
        },
    )
    .await
}
