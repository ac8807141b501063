//! The dashboard in a real headless Chromium, driven over WebDriver (chromedriver).
//!
//! Forces a breaker open through the control route and checks the page shows it open within
//! 2 seconds, then closes it and checks the page follows. The WebDriver calls are plain JSON
//! over HTTP (reqwest), a handful of endpoints, so no WebDriver client crate is needed.
//!
//! By default the test serves its own registry on a free loopback port. With
//! `BREAKER_DASHBOARD_URL` (and `BREAKER_ADMIN_TOKEN`, `BREAKER_NAME`) it drives a running
//! service instead (scripts/browser-test runs it against the quickstart). With
//! `BREAKER_SCREENSHOT=path` it then saves a PNG of the dashboard, `BREAKER_SCREENSHOT_AFTER`
//! seconds (default 2) after the checks.
//!
//! Needs `chromedriver` and `chromium` on the PATH (Debian: `chromium-driver`, `chromium`).
//! Without them the test is skipped with a message, except under `CI=true`, where it fails.

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use breaker_admin::AdminOptions;
use breaker_runtime::Registry;
use serde_json::{json, Value};

const CHROMIUM_FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1100,760",
];

fn which(program: &str) -> Option<std::path::PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|dir| std::path::Path::new(dir).join(program))
        .find(|p| p.is_file())
}

/// The browser, or why not: a skip outside CI, a failure under `CI=true`.
fn tools() -> Option<(std::path::PathBuf, std::path::PathBuf)> {
    let chromium = which("chromium").or_else(|| which("chromium-browser")).or_else(|| which("google-chrome"));
    let driver = which("chromedriver");
    match (driver, chromium) {
        (Some(driver), Some(chromium)) => Some((driver, chromium)),
        (driver, chromium) => {
            let why = format!(
                "browser test needs chromedriver ({}) and chromium ({}): apt-get install chromium chromium-driver",
                if driver.is_some() { "found" } else { "missing" },
                if chromium.is_some() { "found" } else { "missing" }
            );
            assert!(std::env::var("CI").as_deref() != Ok("true"), "{why}");
            eprintln!("SKIPPED: {why}");
            None
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A chromedriver process of ours, killed (by its handle) on drop, and one browser session.
struct Browser {
    driver: Child,
    base: String,
    session: String,
    http: reqwest::Client,
    profile: std::path::PathBuf,
}

impl Browser {
    async fn start(driver: &std::path::Path, chromium: &std::path::Path) -> Browser {
        let port = free_port();
        let child = Command::new(driver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let profile = std::env::temp_dir().join(format!("breaker-browser-{}-{port}", std::process::id()));
        let mut browser = Browser {
            driver: child,
            base: format!("http://127.0.0.1:{port}"),
            session: String::new(),
            http: reqwest::Client::new(),
            profile,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let ready = browser.http.get(format!("{}/status", browser.base)).send().await;
            if let Ok(r) = ready {
                if r.json::<Value>().await.map(|v| v["value"]["ready"] == true).unwrap_or(false) {
                    break;
                }
            }
            assert!(Instant::now() < deadline, "chromedriver did not become ready in 20 s");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let mut args: Vec<String> = CHROMIUM_FLAGS.iter().map(|f| (*f).to_owned()).collect();
        args.push(format!("--user-data-dir={}", browser.profile.display()));
        let capabilities = json!({ "capabilities": { "alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": { "binary": chromium, "args": args }
        }}});
        let created = browser.call(reqwest::Method::POST, "/session", Some(capabilities)).await;
        browser.session = created["sessionId"].as_str().expect("a session id").to_owned();
        browser
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let url = if path == "/session" {
            format!("{}{path}", self.base)
        } else {
            format!("{}/session/{}{path}", self.base, self.session)
        };
        let mut request = self.http.request(method, url);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response: Value = request.send().await.expect("chromedriver answers").json().await.unwrap();
        assert!(response["value"].get("error").is_none(), "webdriver error: {response}");
        response["value"].clone()
    }

    async fn open(&self, url: &str) {
        self.call(reqwest::Method::POST, "/url", Some(json!({ "url": url }))).await;
    }

    /// `data-state` of the breaker's tile, or `null` while it has none.
    async fn tile_state(&self, name: &str) -> Value {
        let script = "const t = [...document.querySelectorAll('[data-breaker]')].find(e => e.dataset.breaker === arguments[0]); return t ? t.dataset.state : null;";
        self.call(reqwest::Method::POST, "/execute/sync", Some(json!({ "script": script, "args": [name] }))).await
    }

    /// Waits until the tile shows `state`; returns how long that took.
    async fn wait_for(&self, name: &str, state: &str, within: Duration) -> Duration {
        let started = Instant::now();
        loop {
            if self.tile_state(name).await == state {
                return started.elapsed();
            }
            assert!(
                started.elapsed() < within,
                "the dashboard did not show `{name}` {state} within {within:?} (shows {})",
                self.tile_state(name).await
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn screenshot(&self) -> Vec<u8> {
        let png = self.call(reqwest::Method::GET, "/screenshot", None).await;
        base64_decode(png.as_str().expect("base64 PNG"))
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let url = format!("{}/session/{}", self.base, self.session);
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
                rt.block_on(async { reqwest::Client::new().delete(url).send().await.map(|_| ()) })
            })
            .join();
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

fn base64_decode(text: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => panic!("not base64: {c}"),
    };
    let digits: Vec<u8> = text.bytes().filter(|c| !c.is_ascii_whitespace() && *c != b'=').map(value).collect();
    digits
        .chunks(4)
        .flat_map(|chunk| {
            let n = chunk.iter().enumerate().fold(0u32, |n, (i, d)| n | u32::from(*d) << (18 - 6 * i));
            let bytes = n.to_be_bytes();
            bytes[1..chunk.len()].to_vec()
        })
        .collect()
}

async fn set_state(dashboard: &str, name: &str, token: &str, state: &str) {
    let base = dashboard.trim_end_matches("/circuit-breakers/dashboard");
    let response = reqwest::Client::new()
        .post(format!("{base}/circuit-breakers/{name}/state"))
        .bearer_auth(token)
        .json(&json!({ "state": state }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200, "{}", response.text().await.unwrap_or_default());
}

async fn own_service(registry: &Registry, token: &str) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = breaker_admin::router(registry.clone(), AdminOptions::new().admin_token(token));
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_shows_a_forced_open_breaker_within_two_seconds_and_its_closing() {
    let Some((driver, chromium)) = tools() else { return };
    let registry = Registry::new();
    for name in ["payments", "search", "recommendations"] {
        registry.breaker(name);
    }
    let (dashboard, token, name) = match std::env::var("BREAKER_DASHBOARD_URL") {
        Ok(url) => (
            url,
            std::env::var("BREAKER_ADMIN_TOKEN").expect("BREAKER_ADMIN_TOKEN with BREAKER_DASHBOARD_URL"),
            std::env::var("BREAKER_NAME").unwrap_or_else(|_| "content-service".to_owned()),
        ),
        Err(_) => {
            let addr = own_service(&registry, "browser-test").await;
            (format!("http://{addr}/circuit-breakers/dashboard"), "browser-test".to_owned(), "payments".to_owned())
        }
    };

    let browser = Browser::start(&driver, &chromium).await;
    browser.open(&dashboard).await;
    // The page has loaded and drawn the tile from the stream's first event.
    let shown = browser.tile_state(&name).await;
    if shown != "closed" {
        browser.wait_for(&name, "closed", Duration::from_secs(10)).await;
    }

    set_state(&dashboard, &name, &token, "forced_open").await;
    let took = browser.wait_for(&name, "forced_open", Duration::from_secs(2)).await;
    eprintln!("the dashboard showed {name} forced open {took:?} after the POST");
    set_state(&dashboard, &name, &token, "closed").await;
    let took = browser.wait_for(&name, "closed", Duration::from_secs(2)).await;
    eprintln!("the dashboard showed {name} closed {took:?} after the POST");

    if let Some(path) = std::env::var("BREAKER_SCREENSHOT").ok().filter(|p| !p.is_empty()) {
        // Let the page draw what the service does for a while (the quickstart's outage).
        let wait = std::env::var("BREAKER_SCREENSHOT_AFTER").ok().and_then(|s| s.parse().ok()).unwrap_or(2);
        tokio::time::sleep(Duration::from_secs(wait)).await;
        std::fs::write(&path, browser.screenshot().await).unwrap();
        eprintln!("screenshot saved to {path}");
    }
}
