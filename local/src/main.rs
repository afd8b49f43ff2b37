//! The `local-stack` command: parses flags, starts the stack, prints the listening line and runs
//! until Ctrl-C or SIGTERM.

use std::path::PathBuf;
use std::process::ExitCode;

use local_stack::Config;

const USAGE: &str = "\
Usage: local-stack [OPTIONS]

Runs template.yaml's functions behind a local HTTP API (JWT and Lambda authorizers) and SQS
pollers, against a moto server; creates the template's generated secrets and SES identities
there. GET /_local/outbox lists the e-mails the functions sent (newest first), and
GET /_local/customer-idp/jwks.json is the local customer identity provider's JWKS.

Options:
  --template PATH            SAM template [default: template.yaml]
  --host HOST                HTTP API address [default: 127.0.0.1]
  --port PORT                HTTP API port, 0 for any free port [default: 3000]
  --endpoint URL             moto server (DynamoDB, SQS, Secrets Manager, SES) [default: http://127.0.0.1:5005]
  --table-name NAME          DynamoDB table name [default: agreements-local]
  --queue-prefix PREFIX      queues and secrets are named PREFIX-<LogicalId> [default: agreements-local]
  --bin-dir DIR              where the function binaries are [default: target/debug]
  --visibility-timeout SECS  every queue's visibility timeout [default: 5]
  --max-instances N          most processes per function [default: 8]
  --param NAME=VALUE         template parameter override (repeatable)
  --secret ID=VALUE          the value of the generated secret ID (e.g. PartnerCenterClientSecret),
                             set even when it exists, as an operator sets it after deploying (repeatable)
  --reset-table              delete and recreate the table if it exists
  -h, --help                 this help

Environment:
  LOCAL_JWT_SECRET           HS256 secret of the JWT authorizer [default: local-dev-secret]
  LOCAL_STACK_LOG            the runner's log filter [default: info]
  RUST_LOG                   if set, overrides the functions' RUST_LOG
";

fn parse_number<T: std::str::FromStr>(flag: &str, value: &str) -> Result<T, String> {
    value
        .parse()
        .map_err(|_| format!("{flag}: {value:?} is not a valid number"))
}

/// Parses the command line; `Ok(None)` means help was asked for.
fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Option<Config>, String> {
    let mut config = Config::default();
    if let Ok(secret) = std::env::var("LOCAL_JWT_SECRET") {
        config.jwt_secret = secret;
    }
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => {
                (flag.to_string(), Some(value.to_string()))
            }
            _ => (arg.clone(), None),
        };
        match flag.as_str() {
            "-h" | "--help" => return Ok(None),
            "--reset-table" => {
                if inline.is_some() {
                    return Err("--reset-table takes no value".into());
                }
                config.reset_table = true;
                continue;
            }
            _ => {}
        }
        let mut value = || {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or_else(|| format!("{flag} needs a value"))
        };
        match flag.as_str() {
            "--template" => config.template = PathBuf::from(value()?),
            "--host" => config.host = value()?,
            "--port" => config.port = parse_number(&flag, &value()?)?,
            "--endpoint" => config.endpoint = value()?,
            "--table-name" => config.table_name = value()?,
            "--queue-prefix" => config.queue_prefix = value()?,
            "--bin-dir" => config.bin_dir = PathBuf::from(value()?),
            "--visibility-timeout" => config.visibility_timeout = parse_number(&flag, &value()?)?,
            "--max-instances" => {
                config.max_instances = parse_number(&flag, &value()?)?;
                if config.max_instances == 0 {
                    return Err("--max-instances must be at least 1".into());
                }
            }
            "--param" => {
                let pair = value()?;
                let (name, value) = pair
                    .split_once('=')
                    .filter(|(name, _)| !name.is_empty())
                    .ok_or_else(|| format!("--param {pair:?}: expected NAME=VALUE"))?;
                config.params.insert(name.to_string(), value.to_string());
            }
            "--secret" => {
                let pair = value()?;
                let (name, value) = pair
                    .split_once('=')
                    .filter(|(name, _)| !name.is_empty())
                    .ok_or_else(|| format!("--secret {pair:?}: expected ID=VALUE"))?;
                config
                    .secret_values
                    .insert(name.to_string(), value.to_string());
            }
            other => return Err(format!("unknown argument {other:?}; see --help")),
        }
    }
    Ok(Some(config))
}

async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = terminate.recv() => {}
                }
            }
            Err(error) => {
                tracing::warn!(%error, "cannot watch SIGTERM; only Ctrl-C stops the stack");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    local_stack::init_logging();

    let config = match parse_args(std::env::args().skip(1)) {
        Ok(Some(config)) => config,
        Ok(None) => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("local-stack: {message}");
            return ExitCode::from(2);
        }
    };
    let stack = match local_stack::start(config).await {
        Ok(stack) => stack,
        Err(error) => {
            eprintln!("local-stack: {error}");
            return ExitCode::FAILURE;
        }
    };
    println!("local-stack listening on {}", stack.base_url());
    stop_signal().await;
    tracing::info!("stopping");
    stack.shutdown().await;
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn parses_flags() {
        let config = parse_args(args(&[
            "--port",
            "0",
            "--param",
            "A=b=c",
            "--param=X=1",
            "--reset-table",
            "--bin-dir=out",
            "--visibility-timeout",
            "2",
            "--max-instances",
            "3",
            "--secret",
            "PartnerCenterClientSecret=s=1",
        ]));
        let config = match config {
            Ok(Some(config)) => config,
            other => panic!("{other:?}"),
        };
        assert_eq!(config.port, 0);
        assert_eq!(config.params["A"], "b=c");
        assert_eq!(config.params["X"], "1");
        assert!(config.reset_table);
        assert_eq!(config.bin_dir, PathBuf::from("out"));
        assert_eq!(config.visibility_timeout, 2);
        assert_eq!(config.max_instances, 3);
        assert_eq!(config.secret_values["PartnerCenterClientSecret"], "s=1");
        assert_eq!(config.template, PathBuf::from("template.yaml"));
    }

    #[test]
    fn refuses_bad_flags() {
        for bad in [
            &["--port", "x"][..],
            &["--port"],
            &["--param", "novalue"],
            &["--secret", "=v"],
            &["--nope"],
            &["--max-instances", "0"],
        ] {
            assert!(parse_args(args(bad)).is_err(), "{bad:?}");
        }
        assert!(matches!(parse_args(args(&["--help"])), Ok(None)));
    }
}
