//! `sesshu serve` as an operator runs it: TLS with a given certificate, the health endpoint,
//! refusal of a network address without TLS, and a clean stop on SIGTERM.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;

use common::{BIN, sesshu, text};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn serve(dir: &std::path::Path, db: &str, args: &[&str]) -> std::process::Child {
    Command::new(BIN)
        .arg("serve")
        .args(args)
        .current_dir(dir)
        .env("SESSHU_DATABASE_URL", db)
        .env("SESSHU_KEY_FILE", dir.join("keys/sesshu.key"))
        .env_remove("SESSHU_KEY")
        .env_remove("SESSHU_CONFIG")
        .env_remove("SESSHU_LISTEN")
        .env("SESSHU_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run sesshu serve")
}

/// Reads the server's output until it says where it listens.
fn listening(child: &mut std::process::Child) -> (u16, BufReader<std::process::ChildStdout>) {
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    loop {
        line.clear();
        assert!(out.read_line(&mut line).unwrap() > 0, "serve ended early");
        if let Some(rest) = line.split("://127.0.0.1:").nth(1)
            && line.contains("待ち受けています")
        {
            let port: String = rest.chars().take_while(char::is_ascii_digit).collect();
            return (port.parse().unwrap(), out);
        }
    }
}

async fn https_get(port: u16, cert: &rcgen::Certificate, path: &str) -> String {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.der().clone()).unwrap();
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let mut tls = connector.connect(name, tcp).await.unwrap();
    tls.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await
    .unwrap();
    let mut response = Vec::new();
    tls.read_to_end(&mut response).await.ok();
    String::from_utf8_lossy(&response).into_owned()
}

#[tokio::test]
async fn serves_over_tls_and_stops_cleanly() {
    for db in sesshu_testkit::backends().await {
        let dir = tempfile::tempdir().unwrap();
        let out = sesshu(
            dir.path(),
            &db.url,
            &["init", "--municipality", "132098", "--name", "町田市"],
        );
        assert!(out.status.success(), "{}", text(&out));

        // Plain HTTP on a network address would carry passwords in clear: refused.
        let out = sesshu(dir.path(), &db.url, &["serve", "--listen", "0.0.0.0:0"]);
        assert!(!out.status.success(), "{}", db.name);
        assert!(text(&out).contains("TLS"), "{}: {}", db.name, text(&out));

        let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        std::fs::write(dir.path().join("cert.pem"), cert.cert.pem()).unwrap();
        std::fs::write(dir.path().join("key.pem"), cert.signing_key.serialize_pem()).unwrap();
        let mut child = serve(
            dir.path(),
            &db.url,
            &[
                "--listen",
                "127.0.0.1:0",
                "--tls-cert",
                "cert.pem",
                "--tls-key",
                "key.pem",
            ],
        );
        let (port, mut stdout) = listening(&mut child);
        let response = https_get(port, &cert.cert, "/health").await;
        assert!(
            response.starts_with("HTTP/1.1 200"),
            "{}: {response}",
            db.name
        );
        assert!(
            response.contains(r#"{"status":"ok"}"#),
            "{}: {response}",
            db.name
        );
        assert!(
            response
                .to_ascii_lowercase()
                .contains("cache-control: no-store"),
            "{}",
            db.name
        );
        assert!(
            response
                .to_ascii_lowercase()
                .contains("strict-transport-security: max-age=31536000"),
            "{}: HSTS over TLS: {response}",
            db.name
        );
        let login = https_get(port, &cert.cert, "/login").await;
        assert!(
            login.contains("ログイン"),
            "{}: the staff login over TLS",
            db.name
        );
        // Plain HTTP to the TLS port gets no page.
        let mut tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .unwrap();
        tcp.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut buf = Vec::new();
        let _ = tokio::time::timeout(std::time::Duration::from_secs(2), tcp.read_to_end(&mut buf))
            .await;
        assert!(
            !String::from_utf8_lossy(&buf).contains("200 OK"),
            "{}",
            db.name
        );

        // SIGTERM: a graceful stop, exit 0.
        let killed = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(killed.success());
        let status = child.wait().unwrap();
        let mut rest = String::new();
        std::io::Read::read_to_string(&mut stdout, &mut rest).unwrap();
        assert!(status.success(), "{}: {status} {rest}", db.name);
        assert!(rest.contains("終了しました"), "{}: {rest}", db.name);
    }
}

async fn http_get(port: u16, path: &str, token: &str) -> String {
    let mut tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    tcp.write_all(
        format!(
            "GET {path} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    let mut response = Vec::new();
    tcp.read_to_end(&mut response).await.ok();
    String::from_utf8_lossy(&response).into_owned()
}

/// `keys rotate` and `keys retire` while the server runs: it follows the key file, so a number
/// re-sealed under the new version still opens and nothing waits for a restart.
#[tokio::test]
async fn a_running_server_follows_key_rotation_and_retirement() {
    for db in sesshu_testkit::backends().await {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let run = |args: &[&str]| sesshu(d, &db.url, args);
        common::init_machida(d, &db.url);
        let generated = run(&[
            "demo",
            "generate",
            "--persons",
            "200",
            "--seed",
            "3",
            "--encoding",
            "utf8",
            "--out",
            "town.csv",
        ]);
        assert!(generated.status.success(), "{}", text(&generated));
        assert!(
            run(&["import", "residents", "town.csv", "--mode", "full"])
                .status
                .success()
        );
        let address = common::first_with_my_number(&d.join("town.csv"));
        let created = run(&[
            "token",
            "create",
            "registry",
            "--grant",
            "mynumber.use",
            "--allow-from",
            "127.0.0.1",
            "--days",
            "30",
        ]);
        assert!(created.status.success(), "{}", text(&created));
        let token = String::from_utf8_lossy(&created.stdout).trim().to_owned();

        let mut child = serve(d, &db.url, &["--listen", "127.0.0.1:0"]);
        let (port, _stdout) = listening(&mut child);
        let path =
            format!("/api/v1/municipalities/132098/persons/{address}/my-number?purpose=test");
        let before = http_get(port, &path, &token).await;
        assert!(before.starts_with("HTTP/1.1 200"), "{}: {before}", db.name);

        let rotated = run(&["keys", "rotate"]);
        assert!(rotated.status.success(), "{}", text(&rotated));
        let during = http_get(port, &path, &token).await;
        let retired = run(&["keys", "retire", "--version", "1"]);
        assert!(retired.status.success(), "{}", text(&retired));
        let after = http_get(port, &path, &token).await;

        // The key file goes missing: the server says so instead of answering from keys it no
        // longer has, and follows the file back without a restart.
        let key = d.join("keys/sesshu.key");
        let aside = d.join("keys/sesshu.key.aside");
        std::fs::rename(&key, &aside).unwrap();
        let missing = http_get(port, &path, &token).await;
        std::fs::rename(&aside, &key).unwrap();
        let restored = http_get(port, &path, &token).await;
        // The database drops every connection (a restart, a failover): the next request is
        // served on a fresh one.
        if db.name == "postgres" {
            sesshu_testkit::cut_postgres_connections(&db.url).await;
        }
        let reconnected = http_get(port, &path, &token).await;
        child.kill().ok();
        child.wait().ok();
        assert!(
            missing.starts_with("HTTP/1.1 500"),
            "{}: {missing}",
            db.name
        );
        assert!(!missing.contains("\"my_number\""), "{}", db.name);
        let number = |r: &str| r.split("\"my_number\":").nth(1).map(str::to_owned);
        for (when, response) in [
            ("key file back", &restored),
            ("connections cut", &reconnected),
        ] {
            assert!(
                response.starts_with("HTTP/1.1 200"),
                "{} {when}: {response}",
                db.name
            );
            assert_eq!(number(response), number(&before), "{} {when}", db.name);
        }
        for (when, response) in [("after rotation", &during), ("after retirement", &after)] {
            assert!(
                response.starts_with("HTTP/1.1 200"),
                "{} {when}: {response}",
                db.name
            );
            assert_eq!(number(response), number(&before), "{} {when}", db.name);
        }
    }
}

/// A client that connects and then sends its headers a byte at a time, or nothing at all, is
/// cut off after the header timeout instead of holding the connection (and its memory) for as
/// long as it likes; a client that sends its request answers as usual. The server's store is
/// SQLite: this is about connections, not storage.
#[tokio::test]
async fn slow_or_silent_clients_are_cut_off() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let db = format!("sqlite://{}", d.join("sesshu.db").display());
    common::init_machida(d, &db);
    let mut child = serve(d, &db, &["--listen", "127.0.0.1:0"]);
    let (port, _out) = listening(&mut child);
    let closed_after = |mut s: tokio::net::TcpStream| async move {
        let started = std::time::Instant::now();
        let mut buf = [0u8; 256];
        // Whatever the server sends before closing (a 408), it then closes: read to the end,
        // giving up well after the timeout so a server that never closes fails the test.
        let ended = tokio::time::timeout(std::time::Duration::from_secs(40), async {
            loop {
                match s.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
            }
        })
        .await;
        (ended.is_ok(), started.elapsed())
    };
    let mut partial = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    partial
        .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let silent = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let ((partial_closed, after), (silent_closed, _)) =
        tokio::join!(closed_after(partial), closed_after(silent));
    assert!(
        partial_closed,
        "a request whose headers never end is cut off"
    );
    assert!(silent_closed, "a connection that sends nothing is cut off");
    assert!(
        after >= std::time::Duration::from_secs(5),
        "not before the client had a fair chance: {after:?}"
    );
    let mut ok = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    ok.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = String::new();
    ok.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let _ = child.kill();
    let _ = child.wait();
}
