//! Cold starts: each function's process started afresh against an emulated Lambda Runtime API on
//! loopback, timed from the exec to its first poll for an event (its init) and to its first
//! response (init plus one invocation of its sample event from `events/`).

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant as Clock, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::Notify;

use crate::error::{Context, Failure, Result};

/// How long one start may take before it is counted as failed.
const START_LIMIT: Duration = Duration::from_secs(30);

/// What one start of a process gave.
#[derive(Debug, Clone, Copy)]
pub struct Start {
    /// Exec to the first `GET /invocation/next`.
    pub init: Duration,
    /// Exec to the invocation's response (or error) being posted.
    pub first_response: Duration,
    /// Whether the function answered with an invocation error rather than a response.
    pub errored: bool,
}

/// One function to start: its binary and environment, and the event it is given.
#[derive(Debug, Clone)]
pub struct Subject {
    pub name: String,
    pub executable: PathBuf,
    pub environment: BTreeMap<String, String>,
    pub event: Bytes,
}

#[derive(Default)]
struct RunState {
    event: Bytes,
    request_id: String,
    delivered: Option<Clock>,
    answered: Option<(Clock, bool)>,
    init_error: Option<String>,
}

/// The emulated Runtime API: one run at a time.
#[derive(Clone)]
pub struct RuntimeApi {
    address: String,
    state: Arc<Mutex<RunState>>,
    done: Arc<Notify>,
}

fn reply(status: StatusCode, body: &'static str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *response.status_mut() = status;
    response
}

impl RuntimeApi {
    /// Listens on a free port of loopback.
    pub async fn start() -> Result<RuntimeApi> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .context("runtime API listener")?;
        let address = listener.local_addr().context("runtime API address")?;
        let api = RuntimeApi {
            address: address.to_string(),
            state: Arc::new(Mutex::new(RunState::default())),
            done: Arc::new(Notify::new()),
        };
        let server = api.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let api = server.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |request| {
                        let api = api.clone();
                        async move { Ok::<_, Infallible>(api.handle(request).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Ok(api)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, RunState> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    async fn handle(&self, request: Request<Incoming>) -> Response<Full<Bytes>> {
        let now = Clock::now();
        let path = request.uri().path().to_string();
        let Some(route) = path.strip_prefix("/2018-06-01/runtime/") else {
            return reply(StatusCode::NOT_FOUND, "{}");
        };
        if request.method() == Method::GET && route == "invocation/next" {
            let delivery = {
                let mut state = self.lock();
                if state.delivered.is_some() {
                    None
                } else {
                    state.delivered = Some(now);
                    Some((state.event.clone(), state.request_id.clone()))
                }
            };
            let Some((event, request_id)) = delivery else {
                // One invocation per start: the next poll waits until the process is killed.
                return std::future::pending().await;
            };
            let deadline = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_millis() + 60_000)
                .unwrap_or(0);
            let mut response = Response::new(Full::new(event));
            let headers = response.headers_mut();
            let mut set = |name: &'static str, value: String| {
                if let Ok(value) = http::HeaderValue::from_str(&value) {
                    headers.insert(name, value);
                }
            };
            set("lambda-runtime-aws-request-id", request_id);
            set("lambda-runtime-deadline-ms", deadline.to_string());
            set(
                "lambda-runtime-invoked-function-arn",
                "arn:aws:lambda:us-east-1:000000000000:function:cold-start".into(),
            );
            set(
                "lambda-runtime-trace-id",
                "Root=1-00000000-000000000000000000000000;Sampled=0".into(),
            );
            set("content-type", "application/json".into());
            return response;
        }
        if request.method() == Method::POST {
            let body = request
                .into_body()
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            let recorded = {
                let mut state = self.lock();
                let invocation = format!("invocation/{}/", state.request_id);
                if route == "init/error" {
                    state.init_error = Some(String::from_utf8_lossy(&body).into_owned());
                    true
                } else if let Some(kind) = route.strip_prefix(&invocation) {
                    if state.answered.is_none() {
                        state.answered = Some((now, kind == "error"));
                    }
                    true
                } else {
                    false
                }
            };
            if recorded {
                self.done.notify_one();
                return reply(StatusCode::ACCEPTED, "{}");
            }
        }
        reply(StatusCode::NOT_FOUND, "{}")
    }

    /// Starts `subject`'s process once, feeds it its event, and kills it once it has answered.
    pub async fn run(&self, subject: &Subject, run: usize) -> Result<Start> {
        {
            let mut state = self.lock();
            *state = RunState {
                event: subject.event.clone(),
                request_id: format!("cold-start-{run}"),
                ..RunState::default()
            };
        }
        let mut command = tokio::process::Command::new(&subject.executable);
        command
            .env_clear()
            .envs(&subject.environment)
            .env("AWS_LAMBDA_RUNTIME_API", &self.address)
            .env("AWS_LAMBDA_FUNCTION_NAME", &subject.name)
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env(
                "AWS_LAMBDA_LOG_GROUP_NAME",
                format!("/aws/lambda/{}", subject.name),
            )
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "cold-start")
            .env("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand")
            .env("RUST_LOG", "off")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true);
        let started = Clock::now();
        let mut child = command
            .spawn()
            .context(format!("start {}", subject.executable.display()))?;
        let waited = tokio::time::timeout(START_LIMIT, async {
            loop {
                let notified = self.done.notified();
                {
                    let state = self.lock();
                    if state.answered.is_some() || state.init_error.is_some() {
                        return;
                    }
                }
                tokio::select! {
                    _ = notified => {}
                    _ = child.wait() => return,
                }
            }
        })
        .await;
        let _ = child.kill().await;
        let state = self.lock();
        if let Some(error) = &state.init_error {
            return Err(Failure::new(format!(
                "{} failed to initialise: {error}",
                subject.name
            )));
        }
        match (waited, state.delivered, state.answered) {
            (Ok(()), Some(delivered), Some((answered, errored))) => Ok(Start {
                init: delivered - started,
                first_response: answered - started,
                errored,
            }),
            (Err(_), _, _) => Err(Failure::new(format!(
                "{} gave no answer within {} s",
                subject.name,
                START_LIMIT.as_secs()
            ))),
            _ => Err(Failure::new(format!(
                "{} exited before it answered its event",
                subject.name
            ))),
        }
    }
}

/// The median of `values` (the lower middle one of an even number).
pub fn median(values: &mut [Duration]) -> Duration {
    values.sort_unstable();
    values
        .get(values.len().saturating_sub(1) / 2)
        .copied()
        .unwrap_or_default()
}

/// The sample event of `binary` from `events/`.
pub fn event_of(events: &Path, binary: &str) -> Result<Bytes> {
    let path = events.join(format!("{binary}.json"));
    let text = std::fs::read(&path).context(format!("read {}", path.display()))?;
    serde_json::from_slice::<serde_json::Value>(&text)
        .context(format!("{} is not JSON", path.display()))?;
    Ok(Bytes::from(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_median_is_the_lower_middle() {
        let ms = Duration::from_millis;
        assert_eq!(median(&mut [ms(5), ms(1), ms(3)]), ms(3));
        assert_eq!(median(&mut [ms(4), ms(1), ms(3), ms(2)]), ms(2));
        assert_eq!(median(&mut []), Duration::ZERO);
    }
}
