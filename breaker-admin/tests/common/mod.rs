//! Helpers the admin's integration tests share: a loopback server and its two kinds of request.

#![allow(dead_code)] // each test binary uses its own subset

use std::net::SocketAddr;

use breaker_admin::AdminOptions;
use breaker_runtime::Registry;
use serde_json::Value;

/// Serves `breaker_admin::router(registry, options)` on a free loopback port.
pub(crate) async fn serve(registry: &Registry, options: AdminOptions) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = breaker_admin::router(registry.clone(), options);
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

pub(crate) async fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let response = reqwest::get(format!("http://{addr}{path}")).await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

pub(crate) async fn post(addr: SocketAddr, name: &str, token: Option<&str>, body: &str) -> (u16, Value) {
    let mut request = reqwest::Client::new()
        .post(format!("http://{addr}/circuit-breakers/{name}/state"))
        .header("content-type", "application/json")
        .body(body.to_owned());
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}
