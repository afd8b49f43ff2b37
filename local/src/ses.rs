//! SES (API v2) for the functions: a pass-through proxy in front of the endpoint (moto) that
//! keeps every sent e-mail in the stack's outbox, and the identities the template creates.
//!
//! Every function gets `AWS_ENDPOINT_URL_SESV2` pointing at the proxy. The proxy forwards each
//! request as it came (method, path, query, headers, body) to the endpoint and answers what the
//! endpoint answered; a `SendEmail` (`POST /v2/email/outbound-emails`) answered 2xx is recorded
//! from its request and answer, and logged with its first link so that a developer can follow
//! it. moto itself keeps only one part of a message and mixes every stack's mail together.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderName, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use serde::Serialize;
use serde_json::Value;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::server::{self, response, Shutdown};

/// The SESv2 `SendEmail` path.
pub const SEND_EMAIL_PATH: &str = "/v2/email/outbound-emails";

/// One e-mail a function sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OutboxEntry {
    pub to: Vec<String>,
    pub from: String,
    pub subject: String,
    /// The text part; empty when the message has none.
    pub text: String,
    /// The HTML part; empty when the message has none.
    pub html: String,
    /// RFC 3339, UTC.
    pub sent_at: String,
    pub message_id: String,
}

impl OutboxEntry {
    /// The first http(s) link of the text part (else of the HTML part).
    pub fn first_link(&self) -> Option<&str> {
        first_url(&self.text).or_else(|| first_url(&self.html))
    }
}

/// The e-mails sent through a stack's proxy.
#[derive(Debug, Clone, Default)]
pub struct Outbox(Arc<Mutex<Vec<OutboxEntry>>>);

impl Outbox {
    pub fn record(&self, entry: OutboxEntry) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).push(entry);
    }

    /// Every e-mail, newest first.
    pub fn entries(&self) -> Vec<OutboxEntry> {
        let entries = self.0.lock().unwrap_or_else(|e| e.into_inner());
        entries.iter().rev().cloned().collect()
    }
}

/// The first `http://` or `https://` URL in `text`.
pub fn first_url(text: &str) -> Option<&str> {
    let start = [text.find("http://"), text.find("https://")]
        .into_iter()
        .flatten()
        .min()?;
    let rest = &text[start..];
    let end = rest
        .find(|c: char| c.is_whitespace() || matches!(c, '<' | '>' | '"' | '\'' | '`'))
        .unwrap_or(rest.len());
    Some(rest[..end].trim_end_matches(['.', ',', ';', ':', ')', ']', '!', '?']))
}

/// The outbox entry of a `SendEmail` request (JSON of the SESv2 REST API) and its answer.
pub fn parse_send_email(request: &[u8], answer: &[u8], sent_at: OffsetDateTime) -> OutboxEntry {
    let request: Value = serde_json::from_slice(request).unwrap_or_default();
    let answer: Value = serde_json::from_slice(answer).unwrap_or_default();
    let text = |value: &Value| value.as_str().unwrap_or_default().to_string();
    let simple = &request["Content"]["Simple"];
    OutboxEntry {
        to: request["Destination"]["ToAddresses"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        from: text(&request["FromEmailAddress"]),
        subject: text(&simple["Subject"]["Data"]),
        text: text(&simple["Body"]["Text"]["Data"]),
        html: text(&simple["Body"]["Html"]["Data"]),
        sent_at: sent_at
            .to_offset(time::UtcOffset::UTC)
            .format(&Rfc3339)
            .unwrap_or_default(),
        message_id: text(&answer["MessageId"]),
    }
}

/// Headers that belong to one connection, not to the message.
fn hop_by_hop(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "connection"
            | "keep-alive"
            | "proxy-authenticate"
            | "proxy-authorization"
            | "te"
            | "trailer"
            | "transfer-encoding"
            | "upgrade"
            | "host"
            | "content-length"
    )
}

#[derive(Clone)]
struct Proxy {
    endpoint: Arc<str>,
    client: reqwest::Client,
    outbox: Outbox,
}

impl Proxy {
    async fn handle(&self, request: Request<Incoming>) -> Response<Full<Bytes>> {
        let (parts, body) = request.into_parts();
        let body = match body.collect().await {
            Ok(body) => body.to_bytes(),
            Err(error) => {
                tracing::debug!(%error, "SES proxy: could not read a request");
                return response(StatusCode::BAD_REQUEST, "text/plain", "bad request");
            }
        };
        let path_and_query = parts
            .uri
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .to_string();
        let mut forward = self.client.request(
            parts.method.clone(),
            format!("{}{path_and_query}", self.endpoint),
        );
        for (name, value) in &parts.headers {
            if !hop_by_hop(name) {
                forward = forward.header(name, value);
            }
        }
        let answer = match forward.body(body.clone()).send().await {
            Ok(answer) => answer,
            Err(error) => {
                tracing::error!(%error, endpoint = %self.endpoint, "SES proxy: the endpoint did not answer");
                return response(
                    StatusCode::BAD_GATEWAY,
                    "text/plain",
                    "endpoint unreachable",
                );
            }
        };
        let status = answer.status();
        let headers = answer.headers().clone();
        let answer_body = match answer.bytes().await {
            Ok(bytes) => bytes,
            Err(error) => {
                tracing::error!(%error, "SES proxy: the endpoint's answer broke off");
                return response(
                    StatusCode::BAD_GATEWAY,
                    "text/plain",
                    "endpoint answer broke off",
                );
            }
        };
        if parts.method == http::Method::POST
            && parts.uri.path() == SEND_EMAIL_PATH
            && status.is_success()
        {
            let entry = parse_send_email(&body, &answer_body, OffsetDateTime::now_utc());
            tracing::info!(
                to = %entry.to.join(", "),
                subject = %entry.subject,
                link = entry.first_link().unwrap_or("-"),
                "e-mail sent (GET /_local/outbox lists them)"
            );
            self.outbox.record(entry);
        }
        let mut reply = Response::new(Full::new(answer_body));
        *reply.status_mut() = status;
        for (name, value) in &headers {
            if !hop_by_hop(name) {
                reply.headers_mut().append(name, value.clone());
            }
        }
        reply
    }
}

/// Starts the proxy on a loopback port in front of `endpoint`; answers its address and task.
pub async fn start_proxy(
    endpoint: &str,
    outbox: Outbox,
    shutdown: Shutdown,
) -> std::io::Result<(SocketAddr, JoinHandle<()>)> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(60))
        .build()
        .map_err(std::io::Error::other)?;
    let proxy = Proxy {
        endpoint: Arc::from(endpoint.trim_end_matches('/')),
        client,
        outbox,
    };
    let task = tokio::spawn(server::serve(listener, shutdown, move |request, _peer| {
        let proxy = proxy.clone();
        async move { proxy.handle(request).await }
    }));
    Ok((address, task))
}

/// Creates an SES identity (a domain or an address) unless it exists.
pub async fn ensure_identity(client: &aws_sdk_sesv2::Client, identity: &str) -> Result<(), String> {
    use aws_sdk_sesv2::error::DisplayErrorContext;
    use aws_sdk_sesv2::operation::create_email_identity::CreateEmailIdentityError;
    match client
        .create_email_identity()
        .email_identity(identity)
        .send()
        .await
    {
        Ok(_) => {
            tracing::info!(identity, "created the SES identity");
            Ok(())
        }
        Err(error)
            if matches!(
                error.as_service_error(),
                Some(CreateEmailIdentityError::AlreadyExistsException(_))
            ) =>
        {
            Ok(())
        }
        Err(error) => Err(format!(
            "SES identity {identity}: CreateEmailIdentity failed: {}",
            DisplayErrorContext(error)
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn records_a_simple_send_email() {
        let request = json!({
            "FromEmailAddress": "Agreements <agreements@agreements.local>",
            "Destination": {"ToAddresses": ["ada@contoso.example", "bob@contoso.example"]},
            "Content": {"Simple": {
                "Subject": {"Data": "Your agreements", "Charset": "UTF-8"},
                "Body": {
                    "Text": {"Data": "Hello,\nopen http://127.0.0.1:3000/portal#token=abc.def.\nBye"},
                    "Html": {"Data": "<a href=\"http://127.0.0.1:3000/portal#token=abc.def\">open</a>"}
                }
            }}
        });
        let sent_at = OffsetDateTime::from_unix_timestamp(1_700_000_000)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH);
        let entry = parse_send_email(
            request.to_string().as_bytes(),
            br#"{"MessageId":"m-1"}"#,
            sent_at,
        );
        assert_eq!(entry.to, ["ada@contoso.example", "bob@contoso.example"]);
        assert_eq!(entry.from, "Agreements <agreements@agreements.local>");
        assert_eq!(entry.subject, "Your agreements");
        assert!(entry.text.starts_with("Hello"));
        assert!(entry.html.starts_with("<a href"));
        assert_eq!(entry.sent_at, "2023-11-14T22:13:20Z");
        assert_eq!(entry.message_id, "m-1");
        assert_eq!(
            entry.first_link(),
            Some("http://127.0.0.1:3000/portal#token=abc.def")
        );
        let json = serde_json::to_value(&entry).unwrap_or_default();
        for key in [
            "to",
            "from",
            "subject",
            "text",
            "html",
            "sent_at",
            "message_id",
        ] {
            assert!(json.get(key).is_some(), "{key}");
        }
    }

    #[test]
    fn tolerates_other_content() {
        let entry = parse_send_email(b"{}", b"not json", OffsetDateTime::UNIX_EPOCH);
        assert!(entry.to.is_empty() && entry.subject.is_empty() && entry.message_id.is_empty());
        assert_eq!(entry.first_link(), None);
    }

    #[test]
    fn finds_the_first_link() {
        assert_eq!(first_url("no link"), None);
        assert_eq!(
            first_url("a https://x.example/a?b=1, then http://y.example"),
            Some("https://x.example/a?b=1")
        );
        assert_eq!(
            first_url("(see http://x.example/p)."),
            Some("http://x.example/p")
        );
    }

    #[test]
    fn the_outbox_lists_newest_first() {
        let outbox = Outbox::default();
        for id in ["1", "2", "3"] {
            let mut entry = parse_send_email(b"{}", b"{}", OffsetDateTime::UNIX_EPOCH);
            entry.message_id = id.into();
            outbox.record(entry);
        }
        let ids: Vec<String> = outbox.entries().into_iter().map(|e| e.message_id).collect();
        assert_eq!(ids, ["3", "2", "1"]);
    }
}
