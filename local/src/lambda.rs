//! Per-function pools of function processes and the invocation bookkeeping behind the emulated
//! Lambda Runtime API: spawn on demand up to a cap, hand out invocations, enforce timeouts, and
//! fail invocations whose process dies.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use tokio::process::{Child, Command};
use tokio::sync::oneshot;
use tokio::task::{AbortHandle, JoinHandle};

use crate::ids;
use crate::intrinsics::function_arn;

/// Lambda gives a runtime this long to initialise before it gives up on it.
const INIT_TIMEOUT: Duration = Duration::from_secs(10);

/// What is needed to run one function's processes.
#[derive(Debug, Clone)]
pub struct FunctionSpec {
    /// The function's local name: its binary.
    pub name: String,
    pub executable: PathBuf,
    /// The resolved environment (template variables and AWS endpoint settings); the pool adds
    /// the Lambda runtime's own variables.
    pub environment: BTreeMap<String, String>,
    pub timeout: Duration,
    pub memory_mb: u64,
    pub max_instances: usize,
}

/// Why an invocation produced no result.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvokeError {
    #[error("function binary {} does not exist: run `cargo build --workspace`", .0.display())]
    MissingBinary(PathBuf),
    #[error("cannot start {path}: {message}")]
    Spawn { path: PathBuf, message: String },
    #[error("Task timed out after {:.2} seconds", .0.as_secs_f64())]
    Timeout(Duration),
    #[error("function process exited during the invocation ({0})")]
    Crashed(String),
    #[error("function failed to initialize: {0}")]
    InitFailed(String),
    #[error("{error_type}: {error_message}")]
    Function {
        error_type: String,
        error_message: String,
    },
    #[error("the local stack is shutting down")]
    ShuttingDown,
}

/// An invocation as a runtime receives it from `/invocation/next`.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub request_id: String,
    pub payload: Bytes,
    pub deadline_ms: u128,
    pub function_arn: String,
    pub trace_id: String,
}

/// Why a runtime's call was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuntimeCallError {
    #[error("this function instance has been stopped")]
    InstanceGone,
    #[error("unknown request id {0}")]
    UnknownRequest(String),
}

type Reply = oneshot::Sender<Result<Bytes, InvokeError>>;

struct Invocation {
    request_id: String,
    payload: Bytes,
    trace_id: String,
    reply: Reply,
}

enum InstanceState {
    /// Spawned, has not asked for work yet.
    Starting,
    /// Long-polling `/next`.
    Idle(oneshot::Sender<Delivery>),
    Busy(String),
    /// Answered an invocation and is about to poll again.
    Returning,
}

struct Instance {
    state: InstanceState,
    /// Dropping this sender makes the instance's monitor kill the process.
    _kill: oneshot::Sender<()>,
    monitor: Option<JoinHandle<()>>,
}

struct InFlight {
    instance: u64,
    reply: Reply,
    timer: AbortHandle,
}

#[derive(Default)]
struct PoolState {
    pending: VecDeque<Invocation>,
    instances: HashMap<u64, Instance>,
    in_flight: HashMap<String, InFlight>,
    closed: bool,
}

struct PoolInner {
    spec: FunctionSpec,
    /// `host:port` of the Runtime API server.
    runtime_api: String,
    next_instance: AtomicU64,
    warned_missing_binary: AtomicBool,
    state: Mutex<PoolState>,
}

/// The processes of one function.
#[derive(Clone)]
pub struct Pool {
    inner: Arc<PoolInner>,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("function", &self.inner.spec.name)
            .finish_non_exhaustive()
    }
}

fn epoch_ms() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default()
}

impl Pool {
    /// A pool whose processes talk to the Runtime API server at `runtime_api` (`host:port`).
    pub fn new(spec: FunctionSpec, runtime_api: String) -> Self {
        Self {
            inner: Arc::new(PoolInner {
                spec,
                runtime_api,
                next_instance: AtomicU64::new(1),
                warned_missing_binary: AtomicBool::new(false),
                state: Mutex::new(PoolState::default()),
            }),
        }
    }

    pub fn name(&self) -> &str {
        &self.inner.spec.name
    }

    /// What the pool starts its processes from.
    pub fn spec(&self) -> &FunctionSpec {
        &self.inner.spec
    }

    fn lock(&self) -> MutexGuard<'_, PoolState> {
        // Every critical section leaves the state consistent, so a poisoned lock is still usable.
        self.inner
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Runs one invocation and returns the function's response payload.
    pub async fn invoke(
        &self,
        payload: Bytes,
        trace_id: Option<String>,
    ) -> Result<Bytes, InvokeError> {
        let executable = &self.inner.spec.executable;
        if !executable.is_file() {
            if !self
                .inner
                .warned_missing_binary
                .swap(true, Ordering::Relaxed)
            {
                tracing::error!(
                    function = %self.inner.spec.name,
                    path = %executable.display(),
                    "function binary is missing: run `cargo build --workspace`"
                );
            }
            return Err(InvokeError::MissingBinary(executable.clone()));
        }
        let (reply, result) = oneshot::channel();
        {
            let mut state = self.lock();
            if state.closed {
                return Err(InvokeError::ShuttingDown);
            }
            state.pending.push_back(Invocation {
                request_id: ids::uuid(),
                payload,
                trace_id: trace_id.unwrap_or_else(ids::trace_id),
                reply,
            });
            self.dispatch(&mut state);
        }
        result.await.unwrap_or(Err(InvokeError::ShuttingDown))
    }

    /// Hands pending invocations to idle instances and starts instances for the rest.
    fn dispatch(&self, state: &mut PoolState) {
        while !state.pending.is_empty() {
            let idle = state
                .instances
                .iter()
                .find_map(|(id, instance)| match &instance.state {
                    InstanceState::Idle(waiter) if !waiter.is_closed() => Some(*id),
                    _ => None,
                });
            let Some(instance_id) = idle else { break };
            let Some(instance) = state.instances.get_mut(&instance_id) else {
                break;
            };
            let InstanceState::Idle(waiter) =
                std::mem::replace(&mut instance.state, InstanceState::Returning)
            else {
                continue;
            };
            let Some(invocation) = state.pending.pop_front() else {
                break;
            };
            let request_id = invocation.request_id.clone();
            let delivery = self.start(state, instance_id, invocation);
            if let Err(delivery) = waiter.send(delivery) {
                // The poll went away between the check and the send: take the work back.
                if let Some(in_flight) = state.in_flight.remove(&delivery.request_id) {
                    in_flight.timer.abort();
                    state.pending.push_front(Invocation {
                        request_id,
                        payload: delivery.payload,
                        trace_id: delivery.trace_id,
                        reply: in_flight.reply,
                    });
                }
                if let Some(instance) = state.instances.get_mut(&instance_id) {
                    instance.state = InstanceState::Returning;
                }
            }
        }

        let coming = state
            .instances
            .values()
            .filter(|i| matches!(i.state, InstanceState::Starting | InstanceState::Returning))
            .count();
        let mut wanted = state.pending.len().saturating_sub(coming);
        while wanted > 0 && state.instances.len() < self.inner.spec.max_instances.max(1) {
            if let Err(error) = self.spawn_instance(state) {
                tracing::error!(function = %self.inner.spec.name, %error, "cannot start function process");
                if state.instances.is_empty() {
                    for invocation in state.pending.drain(..) {
                        let _ = invocation.reply.send(Err(error.clone()));
                    }
                }
                return;
            }
            wanted -= 1;
        }
    }

    /// Marks `invocation` as running on `instance_id`, starts its timeout, returns what the
    /// runtime receives.
    fn start(&self, state: &mut PoolState, instance_id: u64, invocation: Invocation) -> Delivery {
        let timeout = self.inner.spec.timeout;
        let timer = {
            let pool = Arc::downgrade(&self.inner);
            let request_id = invocation.request_id.clone();
            tokio::spawn(async move {
                tokio::time::sleep(timeout).await;
                if let Some(inner) = pool.upgrade() {
                    Pool { inner }.time_out(&request_id);
                }
            })
            .abort_handle()
        };
        if let Some(instance) = state.instances.get_mut(&instance_id) {
            instance.state = InstanceState::Busy(invocation.request_id.clone());
        }
        state.in_flight.insert(
            invocation.request_id.clone(),
            InFlight {
                instance: instance_id,
                reply: invocation.reply,
                timer,
            },
        );
        Delivery {
            request_id: invocation.request_id,
            payload: invocation.payload,
            deadline_ms: epoch_ms() + timeout.as_millis(),
            function_arn: function_arn(&self.inner.spec.name),
            trace_id: invocation.trace_id,
        }
    }

    fn time_out(&self, request_id: &str) {
        let mut state = self.lock();
        let Some(in_flight) = state.in_flight.remove(request_id) else {
            return;
        };
        let error = InvokeError::Timeout(self.inner.spec.timeout);
        tracing::warn!(function = %self.inner.spec.name, request_id, "{error}; stopping the process");
        let _ = in_flight.reply.send(Err(error));
        // Removing the instance drops its kill switch.
        state.instances.remove(&in_flight.instance);
        self.dispatch(&mut state);
    }

    fn spawn_instance(&self, state: &mut PoolState) -> Result<(), InvokeError> {
        let spec = &self.inner.spec;
        let instance_id = self.inner.next_instance.fetch_add(1, Ordering::Relaxed);
        let mut command = Command::new(&spec.executable);
        command
            .env_clear()
            .stdin(Stdio::null())
            .stdout(Stdio::inherit())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        // Its own process group keeps a terminal's Ctrl-C away from the function: the runner
        // stops its processes itself, after the servers.
        #[cfg(unix)]
        command.process_group(0);
        for name in ["PATH", "RUST_BACKTRACE"] {
            if let Some(value) = std::env::var_os(name) {
                command.env(name, value);
            }
        }
        command.envs(&spec.environment);
        let now = time::OffsetDateTime::now_utc();
        command
            .env(
                "AWS_LAMBDA_RUNTIME_API",
                // The runtime client parses this as a URI: with a base path it needs a scheme.
                format!(
                    "http://{}/fn/{}/{instance_id}",
                    self.inner.runtime_api, spec.name
                ),
            )
            .env("AWS_LAMBDA_FUNCTION_NAME", &spec.name)
            .env(
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
                spec.memory_mb.to_string(),
            )
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env(
                "AWS_LAMBDA_LOG_GROUP_NAME",
                format!("/aws/lambda/{}", spec.name),
            )
            .env(
                "AWS_LAMBDA_LOG_STREAM_NAME",
                format!(
                    "{:04}/{:02}/{:02}/[$LATEST]{}",
                    now.year(),
                    u8::from(now.month()),
                    now.day(),
                    ids::hex32()
                ),
            )
            .env("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand");
        let child = command.spawn().map_err(|e| InvokeError::Spawn {
            path: spec.executable.clone(),
            message: e.to_string(),
        })?;
        tracing::debug!(function = %spec.name, instance = instance_id, pid = child.id(), "started function process");
        let (kill, killed) = oneshot::channel();
        let monitor = tokio::spawn(monitor(
            Arc::downgrade(&self.inner),
            instance_id,
            child,
            killed,
        ));
        state.instances.insert(
            instance_id,
            Instance {
                state: InstanceState::Starting,
                _kill: kill,
                monitor: Some(monitor),
            },
        );
        Ok(())
    }

    /// `GET .../invocation/next`: waits for the next invocation for this instance.
    pub async fn next(&self, instance_id: u64) -> Result<Delivery, RuntimeCallError> {
        let waiting = {
            let mut state = self.lock();
            if state.closed {
                return Err(RuntimeCallError::InstanceGone);
            }
            let previous = match state.instances.get_mut(&instance_id) {
                Some(instance) => std::mem::replace(&mut instance.state, InstanceState::Returning),
                None => return Err(RuntimeCallError::InstanceGone),
            };
            if let InstanceState::Busy(request_id) = previous {
                if let Some(in_flight) = state.in_flight.remove(&request_id) {
                    in_flight.timer.abort();
                    let _ = in_flight.reply.send(Err(InvokeError::Crashed(
                        "the runtime asked for the next invocation without answering this one"
                            .into(),
                    )));
                }
            }
            if let Some(invocation) = state.pending.pop_front() {
                return Ok(self.start(&mut state, instance_id, invocation));
            }
            let (waiter, waiting) = oneshot::channel();
            if let Some(instance) = state.instances.get_mut(&instance_id) {
                instance.state = InstanceState::Idle(waiter);
            }
            waiting
        };
        waiting.await.map_err(|_| RuntimeCallError::InstanceGone)
    }

    /// `POST .../invocation/<id>/response` and `.../error`.
    pub fn complete(
        &self,
        instance_id: u64,
        request_id: &str,
        result: Result<Bytes, InvokeError>,
    ) -> Result<(), RuntimeCallError> {
        let mut state = self.lock();
        match state.in_flight.get(request_id) {
            Some(in_flight) if in_flight.instance == instance_id => {}
            _ => return Err(RuntimeCallError::UnknownRequest(request_id.to_string())),
        }
        if let Some(in_flight) = state.in_flight.remove(request_id) {
            in_flight.timer.abort();
            let _ = in_flight.reply.send(result);
        }
        if let Some(instance) = state.instances.get_mut(&instance_id) {
            instance.state = InstanceState::Returning;
        }
        Ok(())
    }

    /// `POST .../init/error`: the runtime could not start; it is stopped and the oldest waiting
    /// invocation fails with its reason.
    pub fn init_error(&self, instance_id: u64, message: String) {
        let mut state = self.lock();
        if state.instances.remove(&instance_id).is_some() {
            self.fail_init(&mut state, message);
        }
    }

    fn fail_init(&self, state: &mut PoolState, message: String) {
        tracing::error!(function = %self.inner.spec.name, %message, "function failed to initialize");
        // Failing one waiting invocation per failed start keeps a broken function from being
        // respawned forever while still giving every invocation its own attempt.
        if let Some(invocation) = state.pending.pop_front() {
            let _ = invocation.reply.send(Err(InvokeError::InitFailed(message)));
        }
        self.dispatch(state);
    }

    fn exited(&self, instance_id: u64, status: &str, init_timed_out: bool) {
        let mut state = self.lock();
        let Some(instance) = state.instances.remove(&instance_id) else {
            // Already removed on purpose (timeout, init error, shutdown).
            return;
        };
        match instance.state {
            InstanceState::Busy(request_id) => {
                tracing::error!(function = %self.inner.spec.name, request_id, status, "function process exited during an invocation");
                if let Some(in_flight) = state.in_flight.remove(&request_id) {
                    in_flight.timer.abort();
                    let _ = in_flight
                        .reply
                        .send(Err(InvokeError::Crashed(status.to_string())));
                }
                self.dispatch(&mut state);
            }
            InstanceState::Starting => {
                let message = if init_timed_out {
                    format!(
                        "the runtime did not ask for an invocation within {}s",
                        INIT_TIMEOUT.as_secs()
                    )
                } else {
                    format!("the process exited before asking for an invocation ({status})")
                };
                self.fail_init(&mut state, message);
            }
            InstanceState::Idle(_) | InstanceState::Returning => {
                tracing::warn!(function = %self.inner.spec.name, status, "idle function process exited");
                self.dispatch(&mut state);
            }
        }
    }

    fn is_starting(&self, instance_id: u64) -> bool {
        matches!(
            self.lock().instances.get(&instance_id).map(|i| &i.state),
            Some(InstanceState::Starting)
        )
    }

    /// Fails everything waiting, stops every process and waits for them to exit.
    pub async fn shutdown(&self) {
        let monitors = self.close();
        for monitor in monitors {
            let _ = monitor.await;
        }
    }

    /// Like [`Pool::shutdown`] without waiting: processes are killed in the background.
    pub fn close(&self) -> Vec<JoinHandle<()>> {
        let mut state = self.lock();
        state.closed = true;
        for invocation in state.pending.drain(..) {
            let _ = invocation.reply.send(Err(InvokeError::ShuttingDown));
        }
        for (_, in_flight) in state.in_flight.drain() {
            in_flight.timer.abort();
            let _ = in_flight.reply.send(Err(InvokeError::ShuttingDown));
        }
        state
            .instances
            .drain()
            .filter_map(|(_, mut instance)| instance.monitor.take())
            .collect()
    }

    /// How many processes the pool runs now.
    pub fn instance_count(&self) -> usize {
        self.lock().instances.len()
    }
}

fn describe(status: std::io::Result<ExitStatus>) -> String {
    match status {
        Ok(status) => status.to_string(),
        Err(error) => format!("wait failed: {error}"),
    }
}

/// Owns one process: reports its exit to the pool, kills it when its kill switch is dropped or
/// when it does not start polling in time.
async fn monitor(
    pool: Weak<PoolInner>,
    instance_id: u64,
    mut child: Child,
    killed: oneshot::Receiver<()>,
) {
    let init_deadline = tokio::time::sleep(INIT_TIMEOUT);
    tokio::pin!(init_deadline);
    tokio::pin!(killed);
    let mut init_checked = false;
    let (status, init_timed_out) = loop {
        tokio::select! {
            status = child.wait() => break (describe(status), false),
            _ = &mut killed => {
                let _ = child.start_kill();
                let _ = child.wait().await;
                return;
            }
            () = &mut init_deadline, if !init_checked => {
                init_checked = true;
                let still_starting = pool
                    .upgrade()
                    .is_some_and(|inner| Pool { inner }.is_starting(instance_id));
                if still_starting {
                    let _ = child.start_kill();
                    break (describe(child.wait().await), true);
                }
            }
        }
    };
    if let Some(inner) = pool.upgrade() {
        Pool { inner }.exited(instance_id, &status, init_timed_out);
    }
}
