//! Headless Chromium driven through chromedriver (W3C WebDriver, by `fantoccini`): a driver
//! process of the test's own on a free port, a fresh profile, and waits that poll with a deadline.
//!
//! Chromium and chromedriver come from Debian's packages (`chromium`, `chromium-driver`);
//! `scripts/test.sh` installs them. A machine without them fails the browser tests, never skips.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, Command};

use crate::unique;

pub const INSTALL_HINT: &str =
    "install them with `sudo apt-get install -y chromium chromium-driver` \
     (Debian/Ubuntu; scripts/test.sh does this), or point CHROME_BIN and CHROMEDRIVER at them";

/// An executable: the environment variable's value when set, else the first of `names` on PATH.
fn executable(env: &str, names: &[&str]) -> Option<PathBuf> {
    if let Some(p) = std::env::var_os(env).map(PathBuf::from) {
        return p.is_file().then_some(p);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| names.iter().map(move |n| dir.join(n)))
        .find(|p| p.is_file())
}

/// The browser and its driver, or a panic that says how to install them.
pub fn require_chromium() -> (PathBuf, PathBuf) {
    let chrome = executable(
        "CHROME_BIN",
        &["chromium", "chromium-browser", "google-chrome"],
    );
    let driver = executable("CHROMEDRIVER", &["chromedriver"]);
    match (chrome, driver) {
        (Some(c), Some(d)) => (c, d),
        (c, d) => panic!(
            "the browser tests need Chromium ({}) and chromedriver ({}): {INSTALL_HINT}",
            c.map_or("missing".to_string(), |p| p.display().to_string()),
            d.map_or("missing".to_string(), |p| p.display().to_string()),
        ),
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// A headless Chromium session; `close` ends the session, the driver and the profile.
pub struct Browser {
    pub client: Client,
    driver: Child,
    profile: PathBuf,
}

impl Browser {
    pub async fn start() -> Browser {
        let (chrome, chromedriver) = require_chromium();
        let port = free_port();
        let driver = Command::new(&chromedriver)
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot run {}: {e}; {INSTALL_HINT}", chromedriver.display())
            });
        let url = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let ready = http.get(format!("{url}/status")).send().await.ok();
            let ready = match ready {
                Some(r) => r.json::<Value>().await.ok(),
                None => None,
            };
            if ready.is_some_and(|s| s["value"]["ready"] == true) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "chromedriver did not answer on {url} within 20 s"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }

        let profile = std::env::temp_dir().join(unique("chromium-profile"));
        std::fs::create_dir_all(&profile).expect("a fresh browser profile directory");
        let args = vec![
            "--headless=new".to_string(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-dev-shm-usage".into(),
            "--disable-quic".into(),
            "--no-first-run".into(),
            "--no-default-browser-check".into(),
            // Without these Chromium keeps calling home, which a closed network refuses loudly.
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--disable-extensions".into(),
            "--window-size=1280,900".into(),
            "--lang=en-GB".into(),
            format!("--user-data-dir={}", profile.display()),
        ];
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": chrome.display().to_string(), "args": args},
        });
        let Value::Object(capabilities) = capabilities else {
            unreachable!("capabilities are an object")
        };
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities)
            .connect(&url)
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "chromedriver could not start Chromium ({}): {e}",
                    chrome.display()
                )
            });
        Browser {
            client,
            driver,
            profile,
        }
    }

    /// Waits until `probe` answers Some, polling every 100 ms, or panics naming `what`.
    pub async fn wait_for<T, F, Fut>(&self, what: &str, timeout: Duration, mut probe: F) -> T
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Option<T>>,
    {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(v) = probe().await {
                return v;
            }
            if Instant::now() >= deadline {
                let text = self.text("main").await.unwrap_or_default();
                panic!("timed out after {timeout:?} waiting for {what}; the page shows:\n{text}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The text of the first element matching `css`, if there is one.
    pub async fn text(&self, css: &str) -> Option<String> {
        let e = self.client.find(Locator::Css(css)).await.ok()?;
        e.text().await.ok()
    }

    /// Runs a script and answers its value (`return …`).
    pub async fn eval(&self, script: &str, args: Vec<Value>) -> Value {
        self.client
            .execute(script, args)
            .await
            .unwrap_or_else(|e| panic!("script failed: {e}\n{script}"))
    }

    /// A PNG of the whole page, not just the viewport: the window grows to the document first.
    pub async fn full_page_screenshot(&self, path: &Path) {
        let size = self
            .eval(
                "const d = document.documentElement; return [d.scrollWidth, d.scrollHeight];",
                vec![],
            )
            .await;
        let width = size[0].as_u64().unwrap_or(1280).clamp(800, 1920) as u32;
        let height = size[1].as_u64().unwrap_or(900).clamp(600, 8000) as u32;
        let (w, h) = self.client.get_window_size().await.unwrap_or((1280, 900));
        let inner = self
            .eval("return [window.innerWidth, window.innerHeight];", vec![])
            .await;
        // The window's frame is outside the viewport; add it so the viewport holds the page.
        let frame_w = w.saturating_sub(inner[0].as_u64().unwrap_or(w)) as u32;
        let frame_h = h.saturating_sub(inner[1].as_u64().unwrap_or(h)) as u32;
        self.client
            .set_window_size(width.max(1280) + frame_w, height + frame_h)
            .await
            .expect("resize the window to the page");
        tokio::time::sleep(Duration::from_millis(300)).await;
        let png = self.client.screenshot().await.expect("a screenshot");
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("the screenshot's directory");
        }
        std::fs::write(path, png).expect("write the screenshot");
    }

    /// Ends the session, the driver and the profile directory.
    pub async fn close(mut self) {
        let _ = self.client.clone().close().await;
        let _ = self.driver.kill().await;
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // A failed test lands here: the driver dies with its handle (kill_on_drop); the profile goes.
        let _ = self.driver.start_kill();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// Serves one HTML document on a loopback port of its own (the agreement a template links to),
/// so that the portal's iframe shows a real page on a machine without internet.
pub async fn serve_document(html: &'static str) -> (String, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback port for the document");
    let url = format!(
        "http://{}/agreement.html",
        listener.local_addr().expect("its address")
    );
    let task = tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = socket.read(&mut buf).await;
                let head = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: text/html; charset=utf-8\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    html.len()
                );
                let _ = socket.write_all(head.as_bytes()).await;
                let _ = socket.write_all(html.as_bytes()).await;
                let _ = socket.shutdown().await;
            });
        }
    });
    (url, task)
}
