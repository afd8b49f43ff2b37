//! The only code that speaks DynamoDB. Its public surface is the list of access patterns of
//! docs/data-model.md, one method each, in one file per entity family; callers never see index
//! names, key strings or attribute values, and every failure is a `StoreError`.

mod agreements;
mod billing_contracts;
pub mod cursor;
mod directory;
mod exports;
mod item;
mod jobs;
pub mod keys;
mod keys_first;
mod list;
mod notices;
mod provider_accounts;
pub mod records;
pub mod schema;
mod table;
mod templates;

use aws_sdk_dynamodb::Client;

use crate::error::{BoxError, ServiceError};
use crate::model::Id;
use crate::secrets::Secret;
pub use agreements::{AgreementWithHistory, HISTORY};
pub use cursor::CursorSigner;
pub use item::to_item;
pub use jobs::{ChunkCounts, ChunkEnd, ChunkRow, CountedChunk, CHUNK_ATTRIBUTES};
pub use keys::Keys;
pub use notices::{notice_attribute, Claim, JobTally, Wanted};
pub use provider_accounts::{ImportPart, ImportPartRow, ProviderAccountsOf};
pub use records::{Entity, Record};

/// What went wrong in the store, in the words the services act on.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A single write's condition did not hold.
    #[error("the conditional request failed")]
    ConditionFailed,
    /// A transaction was cancelled; one reason code per item, in order ("None" where it held).
    #[error("transaction cancelled: {0:?}")]
    Cancelled(Vec<String>),
    /// A cursor that this list did not issue (forged, corrupt or of another list).
    #[error("`cursor` is not a cursor of this list")]
    BadCursor,
    /// A record could not be turned into an item, or an item into a record.
    #[error("an item could not be mapped")]
    Mapping(#[from] serde_dynamo::Error),
    /// A stored item is not of the shape this code writes.
    #[error("a stored item is not as expected: {0}")]
    Corrupt(String),
    /// The cursor key could not be had (its secret unreadable or unfit).
    #[error("the cursor key is not available: {0}")]
    Key(String),
    /// The request itself failed (throttled, unavailable, refused); the SDK's error is the source.
    #[error("the DynamoDB request failed")]
    Sdk(#[source] BoxError),
}

impl From<StoreError> for ServiceError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::BadCursor => ServiceError::Validation(e.to_string()),
            e => ServiceError::Store(e),
        }
    }
}

/// A page of a list, as the contract answers it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// The same page with each item changed.
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(f).collect(),
            next_cursor: self.next_cursor,
        }
    }
}

/// Where a list starts and how long a page is.
#[derive(Debug, Clone, Copy)]
pub struct PageSpec<'a> {
    pub limit: usize,
    pub cursor: Option<&'a str>,
}

#[derive(Clone, Debug)]
pub struct Store {
    client: Client,
    table: String,
    cursors: Secret<CursorSigner>,
}

impl Store {
    /// A store of `table`; `cursors` is the cursor key, given or read on the first list.
    pub fn new(
        client: Client,
        table: impl Into<String>,
        cursors: impl Into<Secret<CursorSigner>>,
    ) -> Self {
        Store {
            client,
            table: table.into(),
            cursors: cursors.into(),
        }
    }

    /// The cursor key; an instance's first list reads it.
    async fn cursors(&self) -> Result<&CursorSigner, StoreError> {
        self.cursors
            .get()
            .await
            .map_err(|e| StoreError::Key(e.to_string()))
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// Pattern 1: an entity by its id, from its own item, strongly consistent.
    pub async fn by_id<T: Entity>(&self, id: &Id) -> Result<Option<T>, StoreError> {
        self.get(&T::partition(id), keys::META).await
    }

    /// Pattern 2: a new record; `ConditionFailed` when its key is taken.
    pub async fn create<R: Record>(&self, record: &R) -> Result<(), StoreError> {
        self.put_new(item::to_item(record)?).await
    }

    /// Pattern 2, for a record whose key holds an id just generated (80 random bits): its key
    /// can only be taken by this very write, sent again by the SDK after its first answer was
    /// lost, so a condition failure means it is written.
    pub async fn create_fresh<R: Record>(&self, record: &R) -> Result<(), StoreError> {
        match self.create(record).await {
            Err(StoreError::ConditionFailed) => Ok(()),
            other => other,
        }
    }

    /// Pattern 11: replaces a record if its stored version is still `expected_version`.
    pub async fn replace<R: Record>(
        &self,
        record: &R,
        expected_version: u64,
    ) -> Result<(), StoreError> {
        self.put_versioned(item::to_item(record)?, expected_version)
            .await
    }
}
