//! One logical call to Partner Center: the access token and headers, retries with backoff or
//! `Retry-After` (one `MS-RequestId` across them), a capped body, and a 2xx body or an error.

use std::time::{Duration, Instant};

use rand::Rng as _;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use reqwest::{Method, StatusCode, Url};
use uuid::Uuid;

use super::errors::{parse_error, refusal, INVALID_CONTINUATION};
use super::secret::Secret;
use super::PartnerCenterClient;
use crate::connectors::ConnectorError;

/// The most of a response body this client reads.
const MAX_BODY_BYTES: usize = 8 * 1024 * 1024;

impl PartnerCenterClient {
    /// After a failed attempt: sleeps before the next one, or says why there is none.
    pub(super) async fn wait_or_give_up(
        &self,
        operation: &str,
        attempt: u32,
        retry_after: Option<u64>,
        detail: String,
        status: Option<StatusCode>,
        call_started: Instant,
    ) -> Result<(), ConnectorError> {
        let config = &self.inner.config;
        let wait = match retry_after {
            Some(secs) => Duration::from_secs(secs).min(config.max_retry_wait),
            None => backoff(config.backoff_base, config.max_retry_wait, attempt),
        };
        // The call's budget bounds its attempts and waits together, so a retry never runs past
        // the function's time and the caller can still record the outcome.
        let over_budget = call_started.elapsed() + wait >= config.call_budget;
        if attempt >= config.max_attempts || over_budget {
            tracing::warn!(
                operation,
                attempt,
                status = status.map(|s| s.as_u16()),
                correlation_id = %self.correlation_id,
                %detail,
                over_budget,
                "partner center call failed; no attempts or time left"
            );
            return Err(ConnectorError::Transient {
                detail,
                retry_after,
            });
        }
        tracing::warn!(
            operation,
            attempt,
            status = status.map(|s| s.as_u16()),
            wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
            correlation_id = %self.correlation_id,
            %detail,
            "partner center call failed; retrying"
        );
        tokio::time::sleep(wait).await;
        Ok(())
    }

    /// One logical call: token, headers, retries. Returns the body of a 2xx answer.
    pub(super) async fn execute(&self, call: Call<'_>) -> Result<Vec<u8>, ConnectorError> {
        let request_id = Uuid::new_v4();
        let call_started = Instant::now();
        let mut attempt: u32 = 0;
        let mut refreshed_after_401 = false;
        loop {
            attempt += 1;
            let token = self.access_token().await?;
            let headers = self.headers(&token, request_id, &call)?;
            let mut request = self
                .http()?
                .request(call.method.clone(), call.url.clone())
                .headers(headers)
                .timeout(
                    self.inner
                        .config
                        .timeout
                        .min(
                            self.inner
                                .config
                                .call_budget
                                .saturating_sub(call_started.elapsed()),
                        )
                        .max(Duration::from_millis(100)),
                );
            if let Some(body) = call.body {
                request = request.body(body.to_vec());
            }
            let started = Instant::now();
            let outcome = match request.send().await {
                Ok(response) => {
                    let status = response.status();
                    let headers = response.headers().clone();
                    read_body(response)
                        .await
                        .map(|body| (status, headers, body))
                }
                Err(error) => Err(BodyError::Read(error)),
            };
            let (status, headers, body) = match outcome {
                Ok(answer) => answer,
                Err(BodyError::TooLarge) => {
                    return Err(ConnectorError::Malformed(format!(
                        "{}: the answer is larger than {MAX_BODY_BYTES} bytes",
                        call.operation
                    )))
                }
                Err(BodyError::Read(error)) => {
                    let detail = format!("{}: {}", call.operation, describe(&error));
                    self.wait_or_give_up(call.operation, attempt, None, detail, None, call_started)
                        .await?;
                    continue;
                }
            };
            tracing::debug!(
                operation = call.operation,
                method = %call.method,
                path = call.url.path(),
                status = status.as_u16(),
                attempt,
                elapsed_ms = elapsed_ms(started),
                request_id = %request_id,
                correlation_id = %self.correlation_id,
                "partner center request"
            );
            if status.is_success() {
                return Ok(body);
            }
            if status == StatusCode::UNAUTHORIZED {
                self.invalidate(&token).await;
                if !refreshed_after_401 {
                    // A token Partner Center no longer takes (revoked, clock skew): one more try
                    // with a new one, not counted as an attempt.
                    refreshed_after_401 = true;
                    attempt -= 1;
                    continue;
                }
                return Err(ConnectorError::Configuration(format!(
                    "{}: Partner Center refused a fresh access token (401)",
                    call.operation
                )));
            }
            if retryable_status(status) {
                let retry_after = retry_after(&headers);
                let detail = match parse_error(&body) {
                    Some(error) => format!("{}: {status}: {}", call.operation, error.detail()),
                    None => format!("{}: {status}", call.operation),
                };
                self.wait_or_give_up(
                    call.operation,
                    attempt,
                    retry_after,
                    detail,
                    Some(status),
                    call_started,
                )
                .await?;
                continue;
            }
            return Err(refusal(call.operation, status, &headers, &body));
        }
    }

    fn headers(
        &self,
        token: &Secret,
        request_id: Uuid,
        call: &Call<'_>,
    ) -> Result<HeaderMap, ConnectorError> {
        let mut headers = HeaderMap::new();
        let mut bearer =
            HeaderValue::from_str(&format!("Bearer {}", token.expose())).map_err(|_| {
                ConnectorError::Malformed("the access token is not a header value".into())
            })?;
        bearer.set_sensitive(true);
        headers.insert(AUTHORIZATION, bearer);
        headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        headers.insert(
            HeaderName::from_static("ms-requestid"),
            uuid_header(request_id),
        );
        headers.insert(
            HeaderName::from_static("ms-correlationid"),
            uuid_header(self.correlation_id),
        );
        headers.insert(
            HeaderName::from_static("ms-contract-version"),
            HeaderValue::from_static("v1"),
        );
        if let Ok(application) = HeaderValue::from_str(&self.inner.config.application_name) {
            headers.insert(
                HeaderName::from_static("ms-partnercenter-application"),
                application,
            );
        }
        if call.body.is_some() {
            headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        }
        if let Some(token) = call.continuation_token {
            let value = HeaderValue::from_str(token).map_err(|_| ConnectorError::Refused {
                code: INVALID_CONTINUATION.into(),
                detail: "the continuation token is not a header value".into(),
            })?;
            headers.insert(HeaderName::from_static("ms-continuationtoken"), value);
        }
        Ok(headers)
    }
}

/// A request to make: what, where, and its body and continuation token if any.
pub(super) struct Call<'a> {
    pub(super) method: Method,
    pub(super) operation: &'static str,
    pub(super) url: Url,
    pub(super) body: Option<&'a [u8]>,
    pub(super) continuation_token: Option<&'a str>,
}

impl<'a> Call<'a> {
    pub(super) fn new(method: Method, operation: &'static str, url: Url) -> Self {
        Self {
            method,
            operation,
            url,
            body: None,
            continuation_token: None,
        }
    }

    pub(super) fn get(operation: &'static str, url: Url) -> Self {
        Self::new(Method::GET, operation, url)
    }
}

fn uuid_header(id: Uuid) -> HeaderValue {
    let mut buffer = Uuid::encode_buffer();
    HeaderValue::from_str(id.hyphenated().encode_lower(&mut buffer))
        .unwrap_or_else(|_| HeaderValue::from_static("00000000-0000-0000-0000-000000000000"))
}

pub(super) fn retryable_status(status: StatusCode) -> bool {
    status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error()
}

/// `Retry-After` in seconds (the delay form; an HTTP date is ignored, and backoff applies).
pub(super) fn retry_after(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
}

/// base · 2^(attempt−1), capped, with the upper half jittered.
fn backoff(base: Duration, cap: Duration, attempt: u32) -> Duration {
    let exponent = attempt.saturating_sub(1).min(16);
    let full = base.saturating_mul(1u32 << exponent).min(cap);
    let half = full / 2;
    let jitter_ms = u64::try_from(half.as_millis()).unwrap_or(u64::MAX);
    let jitter = if jitter_ms == 0 {
        0
    } else {
        rand::thread_rng().gen_range(0..=jitter_ms)
    };
    half + Duration::from_millis(jitter)
}

pub(super) fn elapsed_ms(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// What went wrong with a request, without its URL's query (continuations) or anything secret.
pub(super) fn describe(error: &reqwest::Error) -> String {
    let kind = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "cannot connect"
    } else if error.is_body() || error.is_decode() {
        "the answer was cut off"
    } else {
        "request failed"
    };
    let url = error
        .url()
        .map(|u| format!(" ({})", u.path()))
        .unwrap_or_default();
    format!("{kind}{url}")
}

pub(super) enum BodyError {
    TooLarge,
    Read(reqwest::Error),
}

pub(super) async fn read_body(mut response: reqwest::Response) -> Result<Vec<u8>, BodyError> {
    if response
        .content_length()
        .is_some_and(|length| length > MAX_BODY_BYTES as u64)
    {
        return Err(BodyError::TooLarge);
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(BodyError::Read)? {
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(BodyError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        let base = Duration::from_millis(100);
        let cap = Duration::from_secs(1);
        for attempt in 1..10 {
            let wait = backoff(base, cap, attempt);
            assert!(wait <= cap);
            let full = base.saturating_mul(1 << (attempt - 1)).min(cap);
            assert!(wait >= full / 2);
        }
    }
}
