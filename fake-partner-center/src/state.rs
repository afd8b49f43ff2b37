//! What the fake holds: its customers and their agreements, issued tokens, continuation tokens,
//! the requests it received and the faults queued for the next ones.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde_json::Value;

/// A request the fake received.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    pub method: String,
    /// The raw path, as sent (still percent-encoded).
    pub path: String,
    pub query: Option<String>,
    /// Lower-case names, in the order received.
    pub headers: Vec<(String, String)>,
    pub body: String,
    /// When it arrived.
    pub at: Instant,
}

impl RecordedRequest {
    /// The first value of a header, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Whether this went to the token endpoint rather than the API.
    pub fn is_token_request(&self) -> bool {
        self.path.contains("/oauth2/")
    }
}

/// A wrong answer the fake gives instead of the right one.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// 429 with `Retry-After: retry_after_secs` and Partner Center's throttling body.
    TooManyRequests { retry_after_secs: u64 },
    /// 500 with a Partner Center error body.
    ServerError,
    /// 200 with a body that is not JSON.
    NotJson,
    /// 200 with JSON of the wrong shape for every endpoint.
    WrongShape,
    /// Any status and JSON body (e.g. a 400 with another error code).
    Status { status: u16, body: Value },
    /// Waits, then answers normally (for client timeouts).
    Delay(Duration),
}

#[derive(Debug)]
pub(crate) struct Injection {
    /// A raw request path, or `*` for every request.
    pub(crate) path: String,
    pub(crate) remaining: usize,
    pub(crate) fault: Fault,
}

#[derive(Debug)]
pub(crate) struct Customer {
    pub(crate) id: String,
    pub(crate) company_name: String,
    pub(crate) domain: String,
    pub(crate) direct_signed: bool,
    pub(crate) agreements: Vec<Value>,
}

#[derive(Debug)]
pub(crate) struct State {
    pub(crate) customers: Vec<Customer>,
    /// Access token → when it expires.
    pub(crate) tokens: HashMap<String, Instant>,
    pub(crate) token_lifetime: Duration,
    /// MS-ContinuationToken → offset of the page it leads to.
    pub(crate) continuations: HashMap<String, usize>,
    pub(crate) requests: Vec<RecordedRequest>,
    pub(crate) injections: Vec<Injection>,
    pub(crate) attestations: Vec<crate::attestations::Attestation>,
    /// How long after the customer's acceptance Partner Center shows it.
    pub(crate) acceptance_lag: Duration,
}

impl Default for State {
    fn default() -> Self {
        Self {
            customers: Vec::new(),
            tokens: HashMap::new(),
            token_lifetime: Duration::from_secs(3600),
            continuations: HashMap::new(),
            requests: Vec::new(),
            injections: Vec::new(),
            attestations: Vec::new(),
            acceptance_lag: Duration::ZERO,
        }
    }
}

pub(crate) type Shared = Arc<Mutex<State>>;

pub(crate) fn lock(state: &Shared) -> MutexGuard<'_, State> {
    state
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
