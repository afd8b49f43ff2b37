//! `fake-partner-center`: the in-memory Partner Center of the tests, on a fixed port, so a local
//! run of the product can sync against it. Prints the environment the Partner Center connector
//! reads, then serves until Ctrl-C or SIGTERM.

use std::process::ExitCode;
use std::time::Duration;

use fake_partner_center::{FakePartnerCenter, CLIENT_ID, CLIENT_SECRET, DEFAULT_PORT, TENANT_ID};

const USAGE: &str = "\
Usage: fake-partner-center [OPTIONS]

A fake Microsoft Partner Center (customers, customer agreements, direct-signed status) with its
own token endpoint, in memory.

Options:
  --host HOST               address to listen on [default: 127.0.0.1]
  --port PORT               port, 0 for any free port [default: 4010]
  --seed-demo               start with a few demo customers
  --token-lifetime SECS     expires_in of the tokens it issues [default: 3600]
  -h, --help                this help
";

struct Options {
    host: String,
    port: u16,
    seed_demo: bool,
    token_lifetime: Option<u64>,
}

fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Option<Options>, String> {
    let mut options = Options {
        host: "127.0.0.1".into(),
        port: DEFAULT_PORT,
        seed_demo: false,
        token_lifetime: None,
    };
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => {
                (flag.to_string(), Some(value.to_string()))
            }
            _ => (arg.clone(), None),
        };
        let mut value = |flag: &str| {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or_else(|| format!("{flag} needs a value"))
        };
        match flag.as_str() {
            "-h" | "--help" => return Ok(None),
            "--seed-demo" => options.seed_demo = true,
            "--host" => options.host = value("--host")?,
            "--port" => {
                let port = value("--port")?;
                options.port = port
                    .parse()
                    .map_err(|_| format!("--port: {port:?} is not a port"))?;
            }
            "--token-lifetime" => {
                let secs = value("--token-lifetime")?;
                options.token_lifetime = Some(
                    secs.parse()
                        .map_err(|_| format!("--token-lifetime: {secs:?} is not a number"))?,
                );
            }
            other => return Err(format!("unknown option {other}")),
        }
    }
    Ok(Some(options))
}

async fn stop_signal() {
    #[cfg(unix)]
    {
        let mut terminate =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(signal) => signal,
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                    return;
                }
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = terminate.recv() => {}
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
    let options = match parse_args(std::env::args().skip(1)) {
        Ok(Some(options)) => options,
        Ok(None) => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("fake-partner-center: {message}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let address = format!("{}:{}", options.host, options.port);
    let fake = match FakePartnerCenter::start_on(&address).await {
        Ok(fake) => fake,
        Err(error) => {
            eprintln!("fake-partner-center: cannot listen on {address}: {error}");
            return ExitCode::FAILURE;
        }
    };
    if let Some(secs) = options.token_lifetime {
        fake.set_token_lifetime(Duration::from_secs(secs));
    }
    if options.seed_demo {
        fake.seed_demo();
    }
    println!("fake Partner Center listening on {}", fake.base_url());
    println!("# for the Partner Center connector:");
    println!("export PARTNER_CENTER_BASE_URL={}", fake.base_url());
    println!("export PARTNER_CENTER_TOKEN_URL={}", fake.token_url());
    println!("export PARTNER_CENTER_TENANT_ID={TENANT_ID}");
    println!("export PARTNER_CENTER_CLIENT_ID={CLIENT_ID}");
    println!("export PARTNER_CENTER_CLIENT_SECRET={CLIENT_SECRET}");
    stop_signal().await;
    fake.shutdown().await;
    ExitCode::SUCCESS
}
