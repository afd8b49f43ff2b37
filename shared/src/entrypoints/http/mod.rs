//! The HTTP entrypoint shared by every API function: API Gateway (payload 2.0) request in,
//! service call, JSON or problem+json response out.

pub mod handlers;
pub mod problem;
pub mod request;

use std::future::Future;
use std::sync::Arc;

use http::header::{CONTENT_TYPE, ETAG, LOCATION};
use http::StatusCode;
use lambda_http::{service_fn, Body, Request, Response};
use serde::Serialize;

use crate::config::{init_tracing, AppContext};
use crate::error::{ServiceError, ServiceResult};

/// A successful answer: a status, an optional JSON body, and the version for the ETag.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub body: Option<serde_json::Value>,
    pub version: Option<u64>,
    pub location: Option<String>,
    pub content_type: Option<&'static str>,
    pub text: Option<String>,
}

impl Reply {
    pub fn json<T: Serialize>(status: StatusCode, value: &T) -> ServiceResult<Reply> {
        Ok(Reply {
            status,
            body: Some(
                serde_json::to_value(value)
                    .map_err(|e| ServiceError::because("the answer could not be serialised", e))?,
            ),
            version: None,
            location: None,
            content_type: None,
            text: None,
        })
    }

    /// One versioned record, answered with its ETag.
    pub fn record<T: Serialize>(
        status: StatusCode,
        value: &T,
        version: u64,
    ) -> ServiceResult<Reply> {
        let mut reply = Reply::json(status, value)?;
        reply.version = Some(version);
        Ok(reply)
    }

    pub fn created<T: Serialize>(
        value: &T,
        version: u64,
        location: String,
    ) -> ServiceResult<Reply> {
        let mut reply = Reply::record(StatusCode::CREATED, value, version)?;
        reply.location = Some(location);
        Ok(reply)
    }

    /// 202 for a queued job, pointing at where its progress shows.
    pub fn job_accepted(job: &crate::model::BulkJob) -> ServiceResult<Reply> {
        let mut reply = Reply::json(
            StatusCode::ACCEPTED,
            &serde_json::json!({"job_id": job.id, "status": job.status}),
        )?;
        reply.location = Some(format!("/bulk-jobs/{}", job.id));
        Ok(reply)
    }

    pub fn no_content() -> Reply {
        Reply {
            status: StatusCode::NO_CONTENT,
            body: None,
            version: None,
            location: None,
            content_type: None,
            text: None,
        }
    }

    pub fn html(page: String) -> Reply {
        Reply {
            status: StatusCode::OK,
            body: None,
            version: None,
            location: None,
            content_type: Some("text/html; charset=utf-8"),
            text: Some(page),
        }
    }
}

pub fn render(result: ServiceResult<Reply>) -> Response<Body> {
    let reply = match result {
        Ok(r) => r,
        Err(e) => return problem::problem(&e),
    };
    let (body, content_type) = match (reply.body, reply.text) {
        (Some(json), _) => (Body::Text(json.to_string()), Some("application/json")),
        (None, Some(text)) => (Body::Text(text), reply.content_type),
        (None, None) => (Body::Empty, None),
    };
    let mut response = Response::new(body);
    *response.status_mut() = reply.status;
    let headers = response.headers_mut();
    if let Some(ct) = content_type {
        headers.insert(CONTENT_TYPE, http::HeaderValue::from_static(ct));
    }
    if let Some(v) = reply.version {
        if let Ok(value) = http::HeaderValue::from_str(&format!("\"{v}\"")) {
            headers.insert(ETAG, value);
        }
    }
    if let Some(location) = reply
        .location
        .and_then(|l| http::HeaderValue::from_str(&l).ok())
    {
        headers.insert(LOCATION, location);
    }
    response
}

/// Runs one request through a handler and renders whatever it answers.
pub async fn dispatch<F, Fut>(handler: F, ctx: Arc<AppContext>, request: Request) -> Response<Body>
where
    F: Fn(Arc<AppContext>, Request) -> Fut,
    Fut: Future<Output = ServiceResult<Reply>>,
{
    render(handler(ctx, request).await)
}

/// The whole main of an API function that needs no AWS context (a static page): logs and the
/// Lambda loop, no clients or secrets read at start.
pub async fn serve_stateless<F, Fut>(handler: F) -> Result<(), lambda_http::Error>
where
    F: Fn(Request) -> Fut + Copy + Send + Sync + 'static,
    Fut: Future<Output = ServiceResult<Reply>> + Send,
{
    init_tracing();
    lambda_http::run(service_fn(move |request: Request| async move {
        Ok::<_, std::convert::Infallible>(render(handler(request).await))
    }))
    .await
}

/// The whole main of an API function: logs, context, and the Lambda loop around `handler`.
pub async fn serve<F, Fut>(handler: F) -> Result<(), lambda_http::Error>
where
    F: Fn(Arc<AppContext>, Request) -> Fut + Copy + Send + Sync + 'static,
    Fut: Future<Output = ServiceResult<Reply>> + Send,
{
    init_tracing();
    let ctx = Arc::new(AppContext::from_env().await?);
    lambda_http::run(service_fn(move |request: Request| {
        let ctx = ctx.clone();
        async move { Ok::<_, std::convert::Infallible>(dispatch(handler, ctx, request).await) }
    }))
    .await
}
