//! The Entra ID access token: fetched with the client secret (or the refresh token), cached
//! until shortly before it expires, fetched once for all callers waiting, and forgotten on a 401.

use std::time::{Duration, Instant};

use reqwest::header::ACCEPT;
use serde::Deserialize;
use serde_json::Value;

use super::errors::{parse_json, token_refusal};
use super::secret::{client_secret, AppSecret, Secret};
use super::transport::{describe, elapsed_ms, read_body, retry_after, retryable_status, BodyError};
use super::{PartnerCenterClient, TokenAudience};
use crate::connectors::ConnectorError;

#[derive(Default)]
pub(super) struct TokenState {
    current: Option<CachedToken>,
    /// A refresh token handed back by the token endpoint (rotation), newer than the configured one.
    rotated_refresh_token: Option<Secret>,
    /// The last failed fetch: callers that waited for it get its error instead of trying again one
    /// after the other.
    last_failure: Option<(Instant, ConnectorError)>,
}

struct CachedToken {
    token: Secret,
    /// When to stop using it: a little before it expires.
    renew_at: Instant,
}

impl CachedToken {
    fn fresh(&self) -> bool {
        Instant::now() < self.renew_at
    }
}

impl PartnerCenterClient {
    async fn app_secret(&self) -> Result<&AppSecret, ConnectorError> {
        self.inner
            .secret
            .get_or_try_init(|| client_secret(&self.inner.config.secret))
            .await
    }

    /// A valid access token: the cached one, or a new one (one fetch at a time).
    pub(super) async fn access_token(&self) -> Result<Secret, ConnectorError> {
        let waiting_since = Instant::now();
        {
            let state = self.inner.tokens.read().await;
            if let Some(cached) = state.current.as_ref().filter(|t| t.fresh()) {
                return Ok(cached.token.clone());
            }
        }
        let mut state = self.inner.tokens.write().await;
        if let Some(cached) = state.current.as_ref().filter(|t| t.fresh()) {
            return Ok(cached.token.clone());
        }
        if let Some((failed_at, error)) = &state.last_failure {
            if *failed_at >= waiting_since {
                return Err(error.clone());
            }
        }
        let fetched = match self.app_secret().await {
            Ok(secret) => {
                let refresh_token = state
                    .rotated_refresh_token
                    .clone()
                    .or_else(|| secret.refresh_token.clone());
                self.fetch_token(secret, refresh_token.as_ref()).await
            }
            Err(error) => Err(error),
        };
        let issued = match fetched {
            Ok(issued) => {
                state.last_failure = None;
                issued
            }
            Err(error) => {
                state.last_failure = Some((Instant::now(), error.clone()));
                return Err(error);
            }
        };
        if let Some(rotated) = issued.refresh_token {
            state.rotated_refresh_token = Some(rotated);
        }
        let token = issued.access_token.clone();
        state.current = Some(CachedToken {
            token: issued.access_token,
            renew_at: issued.renew_at,
        });
        Ok(token)
    }

    /// Forgets `rejected` if it is still the cached token (so concurrent 401s refresh once).
    pub(super) async fn invalidate(&self, rejected: &Secret) {
        let mut state = self.inner.tokens.write().await;
        if state.current.as_ref().is_some_and(|t| &t.token == rejected) {
            state.current = None;
        }
    }

    async fn fetch_token(
        &self,
        secret: &AppSecret,
        refresh_token: Option<&Secret>,
    ) -> Result<IssuedToken, ConnectorError> {
        let config = &self.inner.config;
        let mut form: Vec<(&str, &str)> = vec![
            ("client_id", config.client_id.as_str()),
            ("client_secret", secret.client_secret.expose()),
        ];
        match refresh_token {
            Some(refresh_token) => {
                form.push(("grant_type", "refresh_token"));
                form.push(("refresh_token", refresh_token.expose()));
            }
            None => form.push(("grant_type", "client_credentials")),
        }
        match &config.audience {
            TokenAudience::Resource(resource) => form.push(("resource", resource)),
            TokenAudience::Scope(scope) => form.push(("scope", scope)),
        }
        let mut attempt = 0;
        let call_started = Instant::now();
        loop {
            attempt += 1;
            let started = Instant::now();
            let sent = self
                .http()?
                .post(self.inner.token_url.clone())
                .header(ACCEPT, "application/json")
                .form(&form)
                .send()
                .await;
            let (status, headers, body) = match sent {
                Ok(response) => {
                    let status = response.status();
                    let headers = response.headers().clone();
                    match read_body(response).await {
                        Ok(body) => (status, headers, body),
                        Err(BodyError::TooLarge) => {
                            return Err(ConnectorError::Malformed(
                                "the token endpoint's answer is too large".into(),
                            ))
                        }
                        Err(BodyError::Read(error)) => {
                            let detail = format!("token endpoint: {}", describe(&error));
                            self.wait_or_give_up(
                                "token",
                                attempt,
                                None,
                                detail,
                                None,
                                call_started,
                            )
                            .await?;
                            continue;
                        }
                    }
                }
                Err(error) => {
                    let detail = format!("token endpoint: {}", describe(&error));
                    self.wait_or_give_up("token", attempt, None, detail, None, call_started)
                        .await?;
                    continue;
                }
            };
            tracing::debug!(
                status = status.as_u16(),
                attempt,
                elapsed_ms = elapsed_ms(started),
                grant = if refresh_token.is_some() {
                    "refresh_token"
                } else {
                    "client_credentials"
                },
                "partner center token request"
            );
            if status.is_success() {
                return parse_token(&body, started);
            }
            if retryable_status(status) {
                let retry_after = retry_after(&headers);
                let detail = format!("token endpoint answered {status}");
                self.wait_or_give_up(
                    "token",
                    attempt,
                    retry_after,
                    detail,
                    Some(status),
                    call_started,
                )
                .await?;
                continue;
            }
            return Err(token_refusal(status, &body));
        }
    }
}

struct IssuedToken {
    access_token: Secret,
    refresh_token: Option<Secret>,
    renew_at: Instant,
}

fn parse_token(body: &[u8], requested_at: Instant) -> Result<IssuedToken, ConnectorError> {
    #[derive(Deserialize)]
    struct TokenResponse {
        access_token: Option<String>,
        /// The v1 endpoint sends numbers as strings ("3599").
        #[serde(default)]
        expires_in: Option<Value>,
        #[serde(default)]
        refresh_token: Option<String>,
    }
    let response: TokenResponse = parse_json("token", body)?;
    let access_token = response
        .access_token
        .filter(|t| !t.is_empty())
        .ok_or_else(|| ConnectorError::Malformed("token: no access_token in the answer".into()))?;
    let expires_in = match response.expires_in {
        Some(Value::Number(n)) => n.as_u64(),
        Some(Value::String(s)) => s.trim().parse::<u64>().ok(),
        _ => None,
    }
    // Entra ID tokens last an hour or more; assume the shortest usual life if it is not said.
    .unwrap_or(3600);
    let lifetime = Duration::from_secs(expires_in);
    // Renew a little early: a quarter of the life, at most a minute (counted from the request).
    let margin = (lifetime / 4).min(Duration::from_secs(60));
    Ok(IssuedToken {
        access_token: Secret::new(access_token),
        refresh_token: response
            .refresh_token
            .filter(|t| !t.is_empty())
            .map(Secret::new),
        renew_at: requested_at + lifetime.saturating_sub(margin),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_expire_early_and_accept_string_lifetimes() {
        let now = Instant::now();
        let issued = parse_token(
            br#"{"token_type":"Bearer","expires_in":"3599","access_token":"a"}"#,
            now,
        )
        .expect("v1 answer");
        assert_eq!(issued.renew_at, now + Duration::from_secs(3599 - 60));
        let short = parse_token(br#"{"expires_in":4,"access_token":"a"}"#, now).expect("v2");
        assert_eq!(short.renew_at, now + Duration::from_secs(3));
        assert!(parse_token(br#"{"expires_in":4}"#, now).is_err());
        assert!(parse_token(b"<html>", now).is_err());
    }
}
