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
    /// Address to listen on [default: 127.0.0.1:8080, or SESSHU_LISTEN]
    #[arg(long)]
    listen: Option<String>,
    /// Start on a fresh synthetic town in its own SQLite file (nothing to set up)
    #[arg(long)]
    demo: bool,
    /// Demo: where the demo database, key and feed go
    #[arg(long, default_value = "sesshu-demo")]
    demo_dir: PathBuf,
    #[command(flatten)]
    rules: crate::cmd::schedule::RulesArg,
    /// Demo: persons in the synthetic town
    #[arg(long, default_value_t = 5_000)]
    demo_persons: usize,
}

pub async fn run(global: &GlobalArgs, args: ServeArgs) -> Result<ExitCode> {
    let config = Config::resolve(global)?;
    let addr = config.listen_addr(args.listen.as_deref())?;
    // The server speaks plain HTTP: session cookies and tokens must not cross a network until
    // it is deployed behind TLS (with the staff pages), so it serves this machine only.
    if !addr.ip().is_loopback() {
        bail!(
            "TLS の構成ができるまでは、ループバックアドレス (127.0.0.1 など) でのみ待ち受けます: {addr}"
        );
    }
    let (store, keyring, demo_logins) = if args.demo {
        demo(&args).await?
    } else {
        (config.store().await?, config.keyring()?, None)
    };
    let state = AppState {
        store: store.clone(),
        keyring: Arc::new(keyring),
        engine: Arc::new(sesshu_schedule::Engine::new(args.rules.load()?)),
        totp_for_all: std::env::var("SESSHU_REQUIRE_TOTP").is_ok_and(|v| v == "all"),
        throttle: Default::default(),
    };
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("{addr} で待ち受けできません"))?;
    let local: SocketAddr = listener.local_addr()?;
    if let Some(d) = &demo_logins {
        println!(
            "デモの管理者: 団体 {DEMO_MUNICIPALITY} ログイン admin / パスワード {} / 二要素: 回復コード {} (1回限り) または認証アプリ {}",
            d.password, d.recovery, d.otpauth
        );
        println!(
            "  例: curl -X POST -H 'Content-Type: application/json' -d '{{\"municipality\":\"{DEMO_MUNICIPALITY}\",\"login\":\"admin\",\"password\":\"{}\",\"totp\":\"{}\"}}' http://…/api/v1/login",
            d.password, d.recovery
        );
        let token = &d.token;
        println!("デモの API トークン (role:clerk): {token}");
        println!("  例: curl -H 'Authorization: Bearer {token}' …");
    }
    println!("sesshu: http://{local}/ で待ち受けています (Ctrl-C で終了)");
    println!(
        "API は Authorization: Bearer <APIトークン> で呼び出します (sesshu token create)。画面のログインはまだなく、このマシン (ループバック) からのみ接続できます。"
    );
    for m in store.municipalities().await? {
        println!(
            "  団体 {} {}: http://{local}/api/v1/municipalities/{}/persons?kana=サトウ",
            m.code, m.name, m.code
        );
    }
    axum::serve(listener, sesshu_web::router(state))
        .with_graceful_shutdown(shutdown())
        .await?;
    store.close().await;
    println!("sesshu: 終了しました");
    Ok(ExitCode::SUCCESS)
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
}

async fn demo(args: &ServeArgs) -> Result<(Store, Keyring, Option<DemoLogins>)> {
    let dir = &args.demo_dir;
    std::fs::create_dir_all(dir).with_context(|| format!("{} を作成できません", dir.display()))?;
    for name in [
        "sesshu.db",
        "sesshu.db-wal",
        "sesshu.db-shm",
        "sesshu.key",
        "sesshu.key.tmp",
    ] {
        let path = dir.join(name);
        if path.exists() {
            std::fs::remove_file(&path)
                .with_context(|| format!("{} を削除できません", path.display()))?;
        }
    }
    let keyring = Keyring::generate();
    keyring.create_file(&dir.join("sesshu.key"))?;
    let store = Store::connect(&format!("sqlite://{}", dir.join("sesshu.db").display())).await?;
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
    let policy = sesshu_domain::access::PasswordPolicy::default();
    let password = format!("demo{}", rand::random::<u32>() % 1_000_000 + 1_000_000);
    let first = format!("first{}", rand::random::<u32>() % 1_000_000 + 1_000_000);
    store
        .create_account(
            code,
            &sesshu_store::NewAccount {
                login: "admin".into(),
                display_name: "デモ管理者".into(),
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
    // Ready to use: the password set, the second factor an administrator needs enrolled.
    store
        .set_password(code, "admin", &password, &policy, false)
        .await?;
    store
        .grant(code, "admin", "role:administrator", today, None, "demo")
        .await?;
    let secret = sesshu_crypto::totp::new_secret();
    let sealed = sesshu_crypto::signing::seal_account_secret(
        &keyring,
        &format!("{}|admin", code.as_string()),
        &secret,
    )?;
    let recovery = format!("demo{:06}", rand::random::<u32>() % 1_000_000);
    store
        .enroll_totp(code, "admin", &sealed, std::slice::from_ref(&recovery))
        .await?;
    let otpauth =
        sesshu_crypto::totp::enrolment_url(&secret, &format!("admin@{}", code.as_string()))?;
    let (_, token) = store
        .create_token(
            code,
            "demo",
            &["role:clerk".to_owned()],
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
        }),
    ))
}
