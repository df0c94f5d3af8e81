use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use sesshu_crypto::{Keyring, TenantCrypto};
use sesshu_domain::MunicipalityCode;
use sesshu_formats::{DoseReadOptions, ReadOptions, TextEncoding};
use sesshu_store::{DoseImportOptions, ImportMode, ImportOptions, Store};
use sesshu_web::AppState;

use crate::cmd::demo::{write_doses, write_feed};
use crate::config::{Config, GlobalArgs};

/// The demo municipality: prefecture 99 does not exist, so the code is no real town's.
pub const DEMO_MUNICIPALITY: &str = "99999";
pub const DEMO_NAME: &str = "さくら市 (デモ)";

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on [default: 127.0.0.1:8080, or SESSHU_LISTEN]; other than loopback
    /// only with TLS
    #[arg(long)]
    listen: Option<String>,
    /// TLS certificate chain (PEM) [or SESSHU_TLS_CERT, or tls_cert in sesshu.toml]
    #[arg(long)]
    tls_cert: Option<PathBuf>,
    /// TLS private key (PEM) [or SESSHU_TLS_KEY, or tls_key in sesshu.toml]
    #[arg(long)]
    tls_key: Option<PathBuf>,
    /// Start on a fresh synthetic town in its own SQLite file (nothing to set up)
    #[arg(long)]
    demo: bool,
    /// Demo: where the demo database, key and feed go
    #[arg(long, default_value = "sesshu-demo")]
    demo_dir: PathBuf,
    #[command(flatten)]
    rules: crate::config::RulesArg,
    /// Demo: persons in the synthetic town
    #[arg(long, default_value_t = 5_000)]
    demo_persons: usize,
}

pub async fn run(global: &GlobalArgs, args: ServeArgs) -> Result<ExitCode> {
    let mut config = Config::resolve(global)?;
    if args.tls_cert.is_some() {
        config.tls_cert = args.tls_cert.clone();
    }
    if args.tls_key.is_some() {
        config.tls_key = args.tls_key.clone();
    }
    let addr = config.listen_addr(args.listen.as_deref())?;
    let tls = match (&config.tls_cert, &config.tls_key) {
        (Some(cert), Some(key)) => Some(
            axum_server::tls_rustls::RustlsConfig::from_pem_file(cert, key)
                .await
                .with_context(|| {
                    format!(
                        "TLS の証明書 {} と秘密鍵 {} を読めません",
                        cert.display(),
                        key.display()
                    )
                })?,
        ),
        (None, None) => None,
        _ => bail!("TLS には証明書 (tls_cert) と秘密鍵 (tls_key) の両方が必要です"),
    };
    // Plain HTTP would carry passwords, session cookies and personal data in clear: without a
    // certificate the server answers this machine only.
    if tls.is_none() && !addr.ip().is_loopback() {
        bail!(
            "ループバック以外で待ち受けるには TLS の証明書と秘密鍵が必要です (--tls-cert / --tls-key または SESSHU_TLS_CERT / SESSHU_TLS_KEY): {addr}"
        );
    }
    // Bound before anything else: a busy port is found before a demo town is generated.
    let listener = std::net::TcpListener::bind(addr).with_context(|| {
        format!("{addr} で待ち受けできません (使用中なら --listen 127.0.0.1:8081 などで別のポートを指定してください)")
    })?;
    listener.set_nonblocking(true)?;
    let (app, demo_logins) = if args.demo {
        let (store, keyring, logins) = demo(&args).await?;
        let app = sesshu_app::App::with_keyring(
            store,
            keyring,
            Arc::new(sesshu_schedule::Engine::new(args.rules.load()?)),
        )
        .with_documents(config.documents.clone())
        .with_certificate_keys(sesshu_crypto::KeyringSource::file(
            &args.demo_dir.join("certificate.key"),
        )?)
        .with_output_dir(args.demo_dir.join("documents"));
        (app, logins)
    } else {
        // Key rotation and retirement happen while the server runs: it follows the key file.
        (config.app(config.store().await?, &args.rules)?, None)
    };
    let store = app.store.clone();
    let interrupted = app.fail_interrupted_jobs().await?;
    if interrupted > 0 {
        println!("sesshu: 前回の停止で中断した処理 {interrupted} 件を「失敗」にしました");
    }
    let mut state = AppState::from_app(app);
    state.totp_for_all = std::env::var("SESSHU_REQUIRE_TOTP").is_ok_and(|v| v == "all");
    if let Some(seconds) = config.idle_seconds()? {
        state.idle = chrono::Duration::seconds(seconds);
    }
    let local: SocketAddr = listener.local_addr()?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    if let Some(d) = &demo_logins {
        // The six-digit form the login page asks for (the sixth digit is a check digit).
        let code = MunicipalityCode::parse(DEMO_MUNICIPALITY)?;
        println!(
            "デモの管理者: 団体コード {code} ログイン admin / パスワード {} / 二要素: 回復コード {} (1回限り) または認証アプリ {}",
            d.password, d.recovery, d.otpauth
        );
        println!(
            "デモの事務担当: 団体コード {code} ログイン hoken / パスワード {} (検索・個人・接種記録・取込・通知・証明書)",
            d.clerk_password
        );
        let token = &d.token;
        println!("デモの API トークン (予防接種事務担当): {token}");
        println!("  例: curl -H 'Authorization: Bearer {token}' …");
    }
    println!("sesshu: {scheme}://{local}/ で待ち受けています (Ctrl-C で終了)");
    println!(
        "職員画面: {scheme}://{local}/login  API: Authorization: Bearer <APIトークン> (sesshu token create)"
    );
    let handle = axum_server::Handle::new();
    let stopping = handle.clone();
    tokio::spawn(async move {
        shutdown().await;
        println!("sesshu: 終了します (処理中の要求を最大10秒待ちます)");
        stopping.graceful_shutdown(Some(std::time::Duration::from_secs(10)));
    });
    let mut router = sesshu_web::router(state);
    if tls.is_some() {
        // Served over TLS: browsers are told to come back only that way (a year), so a first
        // request on plain HTTP cannot be turned against a session.
        router = router.layer(axum::middleware::map_response(
            |mut r: axum::response::Response| async move {
                r.headers_mut().insert(
                    axum::http::header::STRICT_TRANSPORT_SECURITY,
                    axum::http::HeaderValue::from_static("max-age=31536000"),
                );
                r
            },
        ));
    }
    let app = router.into_make_service_with_connect_info::<SocketAddr>();
    match tls {
        Some(tls) => {
            // The handshake's own timeout (10 s) bounds a client that sends nothing; then the
            // first request must come within the header timeout too.
            let mut server =
                axum_server::from_tcp_rustls(listener, tls)?.first_request_timeout(HEADER_TIMEOUT);
            slow_clients_cut_off(server.http_builder());
            server.handle(handle).serve(app).await?
        }
        None => {
            let mut server = axum_server::from_tcp(listener)?.first_request_timeout(HEADER_TIMEOUT);
            slow_clients_cut_off(server.http_builder());
            server.handle(handle).serve(app).await?
        }
    }
    store.close().await;
    println!("sesshu: 終了しました");
    Ok(ExitCode::SUCCESS)
}

/// A client must send a request's headers within this time of connecting (or of its previous
/// request on a kept-alive connection), or the connection is closed: a slow or silent client
/// cannot hold connections open one byte at a time.
pub const HEADER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

fn slow_clients_cut_off(
    http: &mut hyper_util::server::conn::auto::Builder<hyper_util::rt::TokioExecutor>,
) {
    http.http1()
        .header_read_timeout(HEADER_TIMEOUT)
        .max_buf_size(64 * 1024);
}

async fn shutdown() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}

/// A fresh demo: new key, new SQLite file, a synthetic town imported through the real importer.
/// The demo's ready logins: the administrator (password and second factor) and an API token.
struct DemoLogins {
    password: String,
    recovery: String,
    otpauth: String,
    token: String,
    clerk_password: String,
}

async fn demo(args: &ServeArgs) -> Result<(Store, Keyring, Option<DemoLogins>)> {
    let dir = &args.demo_dir;
    std::fs::create_dir_all(dir).with_context(|| format!("{} を作成できません", dir.display()))?;
    for name in [
        "sesshu.db",
        "sesshu.db-wal",
        "sesshu.db-shm",
        "sesshu.audit.db",
        "sesshu.audit.db-wal",
        "sesshu.audit.db-shm",
        "sesshu.key",
        "sesshu.key.tmp",
        "certificate.key",
    ] {
        let path = dir.join(name);
        if path.exists() {
            std::fs::remove_file(&path)
                .with_context(|| format!("{} を削除できません", path.display()))?;
        }
    }
    let keyring = Keyring::generate();
    keyring.create_file(&dir.join("sesshu.key"))?;
    // Beside the data key, where `certificate issue` looks for it given `--key-file`.
    Keyring::generate().create_file(&dir.join("certificate.key"))?;
    // The demo's log starts afresh, and so do its kept heads.
    let heads = dir.join("audit-heads");
    if heads.exists() {
        std::fs::remove_dir_all(&heads)
            .with_context(|| format!("{} を削除できません", heads.display()))?;
    }
    let anchor = sesshu_store::AuditAnchor::new(heads);
    let store = Store::connect(&format!("sqlite://{}", dir.join("sesshu.db").display()))
        .await?
        .with_audit_anchor(anchor);
    let code = MunicipalityCode::parse(DEMO_MUNICIPALITY)?;
    store.create_municipality(code, DEMO_NAME).await?;
    let today = sesshu_web::today_in_japan();
    let feed = dir.join("residents.csv");
    println!(
        "デモ: 架空の町 ({} 人) を生成しています…",
        args.demo_persons
    );
    write_feed(
        &feed,
        TextEncoding::ShiftJis,
        sesshu_synth::Town::new(sesshu_synth::TownSpec {
            persons: args.demo_persons,
            seed: 1,
            as_of: today,
        }),
    )?;
    let crypto = Arc::new(TenantCrypto::derive(&keyring, code)?);
    let file = std::fs::File::open(&feed)?;
    let options = ImportOptions {
        mode: ImportMode::Full,
        all_or_nothing: true,
        max_identity_changes: None,
        dry_run: false,
        file_name: "residents.csv".into(),
        operator: "demo".into(),
        read: ReadOptions {
            today: Some(today),
            ..ReadOptions::default()
        },
    };
    let summary = store
        .import_residents(code, crypto, file, options, |_| {}, |_| {})
        .await?;
    println!(
        "デモ: 住民記録を取り込みました (新規 {} 件, {}) → {}",
        summary.inserted,
        summary.encoding.unwrap_or(""),
        dir.join("sesshu.db").display()
    );
    let doses_file = dir.join("doses.csv");
    write_doses(
        &doses_file,
        sesshu_synth::Town::new(sesshu_synth::TownSpec {
            persons: args.demo_persons,
            seed: 1,
            as_of: today,
        }),
        today,
        1,
    )?;
    let book = args.rules.load()?;
    let read = DoseReadOptions {
        today: Some(today),
        products: book.product_codes(),
        tests: book.test_codes(),
        ..DoseReadOptions::default()
    };
    let engine = sesshu_schedule::Engine::new(book);
    let doses = store
        .import_doses(
            code,
            &engine,
            std::fs::File::open(&doses_file)?,
            DoseImportOptions {
                all_or_nothing: false,
                dry_run: false,
                file_name: "doses.csv".into(),
                operator: "demo".into(),
                read,
                today,
            },
            |_| {},
            |_| {},
        )
        .await?;
    println!(
        "デモ: 接種記録を取り込みました (記録 {} 件, うち規則に合わないもの {} 件)",
        doses.inserted, doses.flagged
    );
    // Ready to use: the password set, the second factor an administrator needs enrolled.
    let password = format!("demo{}", rand::random::<u32>() % 1_000_000 + 1_000_000);
    demo_account(
        &store,
        code,
        "admin",
        "デモ管理者",
        "role:administrator",
        &password,
    )
    .await?;
    let secret = sesshu_crypto::totp::new_secret();
    let sealed = sesshu_crypto::signing::seal_account_secret(&keyring, code, "admin", &secret)?;
    let recovery = format!("demo{:06}", rand::random::<u32>() % 1_000_000);
    store
        .enroll_totp(code, "admin", &sealed, std::slice::from_ref(&recovery))
        .await?;
    let otpauth =
        sesshu_crypto::totp::enrolment_url(&secret, &format!("admin@{}", code.as_string()))?;
    // The daily-work login: a clerk, whose grants need no second factor.
    let clerk_password = format!("desk{}", rand::random::<u32>() % 1_000_000 + 1_000_000);
    demo_account(
        &store,
        code,
        "hoken",
        "デモ保健師",
        "role:clerk",
        &clerk_password,
    )
    .await?;
    let (_, token) = store
        .create_token(
            code,
            "demo",
            &["role:clerk".to_owned()],
            &sesshu_domain::access::AllowedSources::default(),
            chrono::Utc::now() + chrono::Duration::days(1),
            "demo",
        )
        .await?;
    Ok((
        store,
        keyring,
        Some(DemoLogins {
            password,
            recovery,
            otpauth,
            token,
            clerk_password,
        }),
    ))
}

/// A demo account with its password already set (no change forced) and one role.
async fn demo_account(
    store: &Store,
    code: MunicipalityCode,
    login: &str,
    name: &str,
    role: &str,
    password: &str,
) -> Result<()> {
    let policy = sesshu_domain::access::PasswordPolicy::default();
    let today = sesshu_web::today_in_japan();
    let first = format!("first{}", rand::random::<u32>() % 1_000_000 + 1_000_000);
    store
        .create_account(
            code,
            &sesshu_store::NewAccount {
                login: login.into(),
                display_name: name.into(),
                shared: false,
                shared_with: None,
                valid_from: today,
                valid_until: None,
            },
            &first,
            &policy,
            "demo",
        )
        .await?;
    store
        .set_password(code, login, password, &policy, false)
        .await?;
    store.grant(code, login, role, today, None, "demo").await?;
    Ok(())
}
