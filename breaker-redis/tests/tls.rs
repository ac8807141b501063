//! `rediss://` against a `redis-server` serving TLS only, with a CA and a server certificate
//! this test makes in the server's temporary directory. Needs the `tls` feature (the CI test
//! command, `cargo test --workspace --all-features`, turns it on) and a `redis-server` built
//! with TLS (Debian 12's is). A server without TLS refuses `--tls-port` and exits: under
//! `CI=true` that fails the test; elsewhere the test skips and prints the server's message.

#![cfg(feature = "tls")]

mod support;

use std::time::Duration;

use breaker_redis::{Fleet, FleetConfig, FleetError, FleetPolicy};
use breaker_runtime::{Config, Registry, State};
use rcgen::{BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose};
use support::{eventually, RedisServer};

const SOON: Duration = Duration::from_secs(5);

/// Writes `ca.crt`, `server.crt` and `server.key` (for 127.0.0.1 and localhost), and a client
/// identity the CA signed (`client.crt`, `client.key`), into `dir`.
fn make_certificates(dir: &std::path::Path) {
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name.push(DnType::CommonName, "breaker-redis test CA");
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    let ca_key = KeyPair::generate().unwrap();
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let mut server = CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).unwrap();
    server.distinguished_name.push(DnType::CommonName, "localhost");
    let server_key = KeyPair::generate().unwrap();
    let server_cert = server.signed_by(&server_key, &ca_cert, &ca_key).unwrap();
    std::fs::write(dir.join("ca.crt"), ca_cert.pem()).unwrap();
    std::fs::write(dir.join("server.crt"), server_cert.pem()).unwrap();
    std::fs::write(dir.join("server.key"), server_key.serialize_pem()).unwrap();
    let mut client = CertificateParams::new(Vec::<String>::new()).unwrap();
    client.distinguished_name.push(DnType::CommonName, "breaker-redis test replica");
    client.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let client_key = KeyPair::generate().unwrap();
    let client_cert = client.signed_by(&client_key, &ca_cert, &ca_key).unwrap();
    std::fs::write(dir.join("client.crt"), client_cert.pem()).unwrap();
    std::fs::write(dir.join("client.key"), client_key.serialize_pem()).unwrap();
}

/// A TLS-only server, or `None` (outside CI, saying why) when `redis-server` is missing or
/// will not serve TLS. Under `CI=true` either fails the test.
fn tls_server(extra: &[&str]) -> Option<RedisServer> {
    let mut server = RedisServer::prepare_tls(extra)?;
    make_certificates(server.dir());
    match server.try_restart() {
        Ok(()) => Some(server),
        Err(why) if support::in_ci() => panic!("CI=true and redis-server does not serve TLS: {why}"),
        Err(why) => {
            eprintln!("skipped: redis-server does not serve TLS (built without it?): {why}");
            None
        }
    }
}

fn config(url: String, id: &str) -> FleetConfig {
    let mut config = FleetConfig::new(url).prefix("tls").instance_id(id).policy(FleetPolicy::Any);
    config.reconnect_min = Duration::from_millis(20);
    config.reconnect_max = Duration::from_millis(100);
    config
}

fn registry() -> Registry {
    let registry = Registry::builder()
        .metrics(false)
        .default_config(Config::builder().consecutive_failures(2).wait(Duration::from_secs(30)))
        .build()
        .unwrap();
    registry.breaker("db");
    registry
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rediss_with_a_private_ca_and_a_password_links_the_fleet() {
    let Some(server) = tls_server(&["--requirepass", "tls-secret"]) else { return };
    let url = format!("rediss://:tls-secret@127.0.0.1:{}", server.port);
    let ca = server.dir().join("ca.crt");
    let (a, b) = (registry(), registry());
    let fleet_a = Fleet::attach(&a, config(url.clone(), "a").tls_ca_file(&ca)).unwrap();
    let fleet_b = Fleet::attach(&b, config(url, "b").tls_ca_file(&ca)).unwrap();
    eventually(SOON, || fleet_a.link_up() && fleet_b.link_up()).await.expect("both links up over TLS");
    for _ in 0..2 {
        a.breaker("db").core().try_acquire().unwrap().failure();
    }
    eventually(SOON, || b.breaker("db").state() == State::Open).await.expect("a's opening reached b over TLS");
    fleet_a.shutdown().await;
    fleet_b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rediss_refuses_a_certificate_from_an_unknown_ca() {
    let Some(server) = tls_server(&[]) else { return };
    // The system's roots do not include the test's CA: the handshake fails, the link stays
    // down and calls are judged locally.
    let registry = registry();
    let fleet = Fleet::attach(&registry, config(format!("rediss://127.0.0.1:{}", server.port), "x")).unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!fleet.link_up(), "an untrusted certificate is a link down");
    registry.breaker("db").core().try_acquire().expect("judged locally").success();
    // Plain Redis on a TLS port does not link either.
    let plain = Registry::new();
    let fleet = Fleet::attach(&plain, config(format!("redis://127.0.0.1:{}", server.port), "y")).unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!fleet.link_up());
}

/// Mutual TLS: a server that asks every client for a certificate its CA signed links the
/// replicas that present one, and refuses the link of a replica that presents none (which
/// then judges its calls locally).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rediss_with_a_client_certificate_links_where_the_server_demands_one() {
    let Some(server) = tls_server(&["--tls-auth-clients", "yes"]) else { return };
    let url = format!("rediss://127.0.0.1:{}", server.port);
    let file = |name: &str| server.dir().join(name);
    let with_identity = |id: &str| {
        config(url.clone(), id).tls_ca_file(file("ca.crt")).tls_client_identity(file("client.crt"), file("client.key"))
    };
    let (a, b, c) = (registry(), registry(), registry());
    let fleet_a = Fleet::attach(&a, with_identity("a")).unwrap();
    let fleet_b = Fleet::attach(&b, with_identity("b")).unwrap();
    let fleet_c = Fleet::attach(&c, config(url.clone(), "c").tls_ca_file(file("ca.crt"))).unwrap();
    eventually(SOON, || fleet_a.link_up() && fleet_b.link_up()).await.expect("both links up over mutual TLS");
    for _ in 0..2 {
        a.breaker("db").core().try_acquire().unwrap().failure();
    }
    eventually(SOON, || b.breaker("db").state() == State::Open).await.expect("a's opening reached b over mutual TLS");
    assert!(!fleet_c.link_up(), "a replica without a client certificate is refused");
    assert_eq!(c.breaker("db").state(), State::Closed, "and judges locally, untouched by a's opening");
    c.breaker("db").core().try_acquire().expect("judged locally").success();
    fleet_a.shutdown().await;
    fleet_b.shutdown().await;
    fleet_c.shutdown().await;
}

/// A client identity that cannot be used is an error at attach naming the setting and file;
/// a certificate without its key is a configuration error naming the missing one.
#[tokio::test]
async fn a_client_identity_that_cannot_be_used_is_an_error_at_attach() {
    let dir = std::env::temp_dir().join(format!("breaker-redis-identity-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    make_certificates(&dir);
    let url = || "rediss://127.0.0.1:1".to_string();
    let attach = |config: FleetConfig| Fleet::attach(&Registry::new(), config).map(drop).unwrap_err();
    let error = attach(config(url(), "k").tls_client_identity(dir.join("client.crt"), dir.join("missing.key")));
    match &error {
        FleetError::Tls(errors) => {
            let named: Vec<_> = errors.iter().map(|e| (e.setting, e.path.as_path())).collect();
            assert_eq!(named, [("tls_client_key_file", dir.join("missing.key").as_path())]);
        }
        other => panic!("{other:?}"),
    }
    // Every unusable file in one error, in the order of the settings: not the first alone.
    let error = attach(
        config(url(), "e")
            .tls_ca_file(dir.join("missing-ca.crt"))
            .tls_client_identity(dir.join("client.key"), dir.join("missing.key")),
    );
    match &error {
        FleetError::Tls(errors) => {
            let settings: Vec<_> = errors.iter().map(|e| e.setting).collect();
            assert_eq!(settings, ["tls_ca_file", "tls_client_cert_file", "tls_client_key_file"], "{error}");
            let text = error.to_string();
            for shown in ["missing-ca.crt", "no PEM certificate", "missing.key"] {
                assert!(text.contains(shown), "{shown:?} missing from: {text}");
            }
        }
        other => panic!("{other:?}"),
    }
    // The certificate where the key should be: no key in it (and its bytes are not shown).
    let error = attach(config(url(), "s").tls_client_identity(dir.join("client.crt"), dir.join("client.crt")));
    assert!(
        error.to_string().contains("`tls_client_key_file`") && error.to_string().contains("no PEM private key"),
        "{error}"
    );
    let error = attach(config(url(), "c").tls_client_identity(dir.join("client.key"), dir.join("client.key")));
    assert!(
        error.to_string().contains("`tls_client_cert_file`") && error.to_string().contains("no PEM certificate"),
        "{error}"
    );
    let plain = attach(
        config("redis://127.0.0.1:1".into(), "p").tls_client_identity(dir.join("client.crt"), dir.join("client.key")),
    );
    assert!(plain.to_string().contains("needs a `rediss://` URL"), "{plain}");
    let mut only_cert = config(url(), "o");
    only_cert.tls_client_cert_file = Some(dir.join("client.crt"));
    match attach(only_cert) {
        FleetError::Config(errors) => assert_eq!(errors[0].source_name, "tls_client_key_file", "{errors:?}"),
        other => panic!("{other:?}"),
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_ca_file_that_cannot_be_used_is_an_error_at_attach() {
    let missing =
        Fleet::attach(&Registry::new(), config("rediss://127.0.0.1:1".into(), "m").tls_ca_file("/nonexistent/ca.crt"));
    let error = missing.unwrap_err();
    assert!(matches!(&error, FleetError::Tls(errors) if errors.len() == 1), "{error:?}");
    assert!(error.to_string().contains("/nonexistent/ca.crt"), "{error}");
    let not_pem = std::env::temp_dir().join(format!("breaker-redis-not-pem-{}", std::process::id()));
    std::fs::write(&not_pem, "hello").unwrap();
    let error = Fleet::attach(&Registry::new(), config("rediss://127.0.0.1:1".into(), "n").tls_ca_file(&not_pem));
    let _ = std::fs::remove_file(&not_pem);
    assert!(error.unwrap_err().to_string().contains("no PEM certificate"));
    let plain = Fleet::attach(&Registry::new(), config("redis://127.0.0.1:1".into(), "p").tls_ca_file("/etc/hostname"));
    assert!(plain.unwrap_err().to_string().contains("needs a `rediss://` URL"));
}
