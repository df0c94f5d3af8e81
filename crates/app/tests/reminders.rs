//! Reminder mails (issue 21, F3) on both backends, through a real SMTP server (aiosmtpd on
//! loopback): a guardian opted in at the counter gets one mail when a child becomes due — saying
//! only that a vaccination is due —, not twice for the same dose, not more than once a week; the
//! mail's link stops the mails without logging in; a relay that is down is tried again and the
//! failure recorded; the dry run lists and sends nothing; refusals are audited.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;

use common::entries;
use sesshu_app::mail::Mailer;
use sesshu_app::reminders::LinkState;
use sesshu_app::{App, AppError, DocumentsConfig, MailConfig, today_in_japan};
use sesshu_crypto::Keyring;
use sesshu_domain::access::Permission;
use sesshu_domain::{MunicipalityCode, Person, ResidentStatus};
use sesshu_store::Store;
use sesshu_testkit::smtp::SmtpServer;

struct World {
    app: App,
    store: Store,
    tenant: MunicipalityCode,
    parent: Person,
    baby: Person,
}

/// A household whose head is an adult resident and whose 子 is three months old.
async fn world(url: &str) -> World {
    let store = Store::connect(url).await.unwrap();
    let keyring = Keyring::generate();
    let tenant = MunicipalityCode::parse("132098").unwrap();
    store.create_municipality(tenant, "町田市").await.unwrap();
    store
        .create_municipality(MunicipalityCode::parse("011002").unwrap(), "札幌市")
        .await
        .unwrap();
    let mut people = sesshu_testkit::town(200, 5);
    let today = today_in_japan();
    let child = people
        .iter()
        .position(|c| {
            c.relationship.as_deref() == Some("子")
                && c.status == ResidentStatus::Resident
                && people.iter().any(|h| {
                    h.household_number == c.household_number
                        && h.relationship.as_deref() == Some("世帯主")
                        && h.status == ResidentStatus::Resident
                        && sesshu_domain::age_on(h.birth_date, today).is_some_and(|a| a >= 20)
                })
        })
        .expect("a household with a child");
    let head = people
        .iter()
        .position(|h| {
            h.household_number == people[child].household_number
                && h.relationship.as_deref() == Some("世帯主")
        })
        .unwrap();
    let born = today - chrono::Days::new(90);
    people[child].birth_date = born;
    people[child].changed_on = Some(born);
    people[child].notified_on = Some(born);
    let (parent, baby) = (people[head].clone(), people[child].clone());
    common::import(&store, &keyring, tenant, &people).await;
    let app = App::with_keyring(
        store.clone(),
        keyring,
        Arc::new(sesshu_schedule::Engine::new(
            sesshu_schedule::RuleBook::builtin().unwrap(),
        )),
    )
    .with_documents(DocumentsConfig {
        department: Some("保健予防課".into()),
        phone: Some("042-000-0000".into()),
        ..DocumentsConfig::default()
    });
    World {
        app,
        store,
        tenant,
        parent,
        baby,
    }
}

fn mailer(port: u16, attempts: u32) -> Mailer {
    Mailer::new(&MailConfig {
        smtp_host: Some("127.0.0.1".into()),
        smtp_port: Some(port),
        security: Some("none".into()),
        from: Some("町田市 保健予防課 <yobou@city.example.lg.jp>".into()),
        public_url: Some("https://sesshu.city.example.lg.jp/".into()),
        attempts: Some(attempts),
        retry_seconds: Some(0),
        ..MailConfig::default()
    })
    .unwrap()
}

/// The body of a delivered message, decoded from its transfer encoding.
fn body_of(raw: &str) -> String {
    let (head, body) = raw.split_once("\n\n").unwrap_or((raw, ""));
    let body = body.replace(['\r', '\n'], "");
    if head
        .to_ascii_lowercase()
        .contains("content-transfer-encoding: base64")
    {
        use base64::Engine;
        String::from_utf8(
            base64::engine::general_purpose::STANDARD
                .decode(body.trim())
                .unwrap(),
        )
        .unwrap()
    } else {
        body
    }
}

#[tokio::test]
async fn a_guardian_is_reminded_once_when_a_child_becomes_due_and_stops_by_the_link() {
    let smtp = SmtpServer::start();
    for db in sesshu_testkit::backends().await {
        let w = world(&db.url).await;
        let (t, name) = (w.tenant, db.name);
        let clerk = common::actor("132098", "madoguchi", "role:clerk");
        let parent = w.parent.address_number.as_str();
        let today = today_in_japan();
        let before = smtp.messages().len();

        // Bad input names its field and records nothing.
        let bad = w
            .app
            .subscribe_reminders(&clerk, t, parent, "not an address", "窓口")
            .await;
        assert!(
            matches!(bad, Err(AppError::Field("email", _))),
            "{name}: {bad:?}"
        );
        let bad = w
            .app
            .subscribe_reminders(&clerk, t, parent, "yamada@example.jp", "伝書鳩")
            .await;
        assert!(matches!(bad, Err(AppError::Field("channel", _))), "{name}");
        assert!(
            w.store
                .subscriptions_of(t, parent)
                .await
                .unwrap()
                .is_empty()
        );

        let s = w
            .app
            .subscribe_reminders(&clerk, t, parent, "yamada@example.jp", "窓口")
            .await
            .unwrap();
        assert_eq!(s.opted_in_channel, "窓口");
        assert_eq!(s.opted_in_by, "user:madoguchi");

        // The dry run lists the guardian with the child's due doses, and sends nothing.
        let dry = w
            .app
            .send_reminders(&clerk, t, today, None, true)
            .await
            .unwrap();
        let m = dry
            .mails
            .iter()
            .find(|m| m.guardian == parent)
            .unwrap_or_else(|| panic!("{name}: {dry:?}"));
        assert!(
            m.items
                .iter()
                .all(|i| i.child == w.baby.address_number.as_str()),
            "{name}"
        );
        assert!(!m.items.is_empty() && m.status.is_none(), "{name}");
        assert_eq!(
            smtp.messages().len(),
            before,
            "{name}: a dry run sends nothing"
        );

        // The run: one mail to the guardian, saying only that a vaccination is due.
        let run = w
            .app
            .send_reminders(&clerk, t, today, Some(&mailer(smtp.port, 3)), false)
            .await
            .unwrap();
        assert_eq!((run.sent, run.failed), (1, 0), "{name}: {run:?}");
        let delivered = smtp.messages();
        assert_eq!(delivered.len(), before + 1, "{name}");
        let raw = delivered.last().unwrap();
        assert!(raw.contains("yamada@example.jp"), "{name}");
        assert!(
            raw.contains("List-Unsubscribe-Post: List-Unsubscribe=One-Click"),
            "{name}"
        );
        let body = body_of(raw);
        assert!(
            body.contains("お子さまの予防接種の時期になりました"),
            "{name}: {body}"
        );
        assert!(body.contains("042-000-0000"), "{name}");
        for secret in [
            w.baby.name.family.clone(),
            w.baby.name.given.clone(),
            w.baby.address_number.as_str().to_owned(),
            "ヒブ".into(),
            "5種混合".into(),
        ] {
            assert!(!body.contains(&secret), "{name}: the mail says {secret}");
        }
        let link = body.split("配信の停止: ").nth(1).unwrap().trim().to_owned();
        assert!(
            link.starts_with("https://sesshu.city.example.lg.jp/unsubscribe/132098."),
            "{link}"
        );
        let token = link.rsplit('/').next().unwrap().to_owned();

        // The same doses are not reminded of again, and a second mail waits a week.
        let again = w
            .app
            .send_reminders(&clerk, t, today, Some(&mailer(smtp.port, 3)), false)
            .await
            .unwrap();
        assert!(
            again.mails.iter().all(|m| m.guardian != parent),
            "{name}: {again:?}"
        );
        // At a year old, MR and varicella become due: new doses, but the week has not passed
        // since the last mail as the clock runs (the forecast's day is not the mail's).
        let later = today + chrono::Days::new(300);
        let dry = w
            .app
            .send_reminders(&clerk, t, later, None, true)
            .await
            .unwrap();
        let m = dry.mails.iter().find(|m| m.guardian == parent).unwrap();
        assert!(
            m.held.as_deref().is_some_and(|h| h.contains("週1通まで")),
            "{name}: the next dose waits for the week: {m:?}"
        );

        // The link: a forged one names nothing; the real one stops the mails without a login.
        let mut forged = token.clone();
        forged.pop();
        forged.push(if token.ends_with('0') { '1' } else { '0' });
        assert_eq!(
            w.app.reminder_link(&forged).await.unwrap(),
            LinkState::Unknown
        );
        assert!(
            !w.app
                .stop_reminders_by_link(&forged, "203.0.113.9")
                .await
                .unwrap()
        );
        assert_eq!(
            w.app.reminder_link(&token).await.unwrap(),
            LinkState::Active("ya****@example.jp".into()),
            "{name}"
        );
        assert!(
            w.app
                .stop_reminders_by_link(&token, "203.0.113.9")
                .await
                .unwrap()
        );
        assert_eq!(
            w.app.reminder_link(&token).await.unwrap(),
            LinkState::Stopped
        );
        let history = w.store.subscriptions_of(t, parent).await.unwrap();
        assert_eq!(
            history[0].opted_out_channel.as_deref(),
            Some("リンク"),
            "{name}"
        );
        let after = w
            .app
            .send_reminders(&clerk, t, later + chrono::Days::new(30), None, true)
            .await
            .unwrap();
        assert!(after.mails.iter().all(|m| m.guardian != parent), "{name}");

        let optouts = entries(&w.store, t, "reminder.optout").await;
        assert!(
            optouts.iter().any(
                |e| e.actor == "link:unsubscribe" && e.source.as_deref() == Some("203.0.113.9")
            ),
            "{name}: the opt-out by link is audited with where it came from"
        );
        let sends = entries(&w.store, t, "reminder.send").await;
        assert!(
            sends.iter().any(|e| e.persons_acted.contains(parent)),
            "{name}: the guardian mailed is named"
        );
    }
}

#[tokio::test]
async fn a_relay_that_is_down_is_tried_again_and_the_failure_recorded_then_sent() {
    for db in sesshu_testkit::backends().await {
        let w = world(&db.url).await;
        let (t, name) = (w.tenant, db.name);
        let clerk = common::actor("132098", "madoguchi", "role:clerk");
        let parent = w.parent.address_number.as_str();
        let today = today_in_japan();
        w.app
            .subscribe_reminders(&clerk, t, parent, "sato@example.jp", "電話")
            .await
            .unwrap();
        // Nothing listens on this port: three tries, then recorded as failed.
        let closed = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let run = w
            .app
            .send_reminders(&clerk, t, today, Some(&mailer(closed, 3)), false)
            .await
            .unwrap();
        let m = run.mails.iter().find(|m| m.guardian == parent).unwrap();
        assert_eq!(m.status.as_deref(), Some("failed"), "{name}");
        assert_eq!(m.attempts, 3, "{name}");
        assert!(m.error.is_some(), "{name}");
        assert_eq!(run.failed, 1);
        // The next run, with the relay up, sends it: a failed mail reminded of nothing.
        let smtp = SmtpServer::start();
        let run = w
            .app
            .send_reminders(&clerk, t, today, Some(&mailer(smtp.port, 3)), false)
            .await
            .unwrap();
        assert_eq!((run.sent, run.failed), (1, 0), "{name}: {run:?}");
        assert_eq!(smtp.messages().len(), 1, "{name}");
    }
}

#[tokio::test]
async fn reminders_are_refused_without_their_permission_and_across_municipalities() {
    for db in sesshu_testkit::backends().await {
        let w = world(&db.url).await;
        let (t, name) = (w.tenant, db.name);
        let parent = w.parent.address_number.as_str();
        let today = today_in_japan();
        let viewer = common::actor("132098", "mita", "role:viewer");
        let r = w
            .app
            .subscribe_reminders(&viewer, t, parent, "a@example.jp", "窓口")
            .await;
        assert!(
            matches!(r, Err(AppError::Forbidden(Permission::NoticeRun))),
            "{name}: {r:?}"
        );
        let r = w.app.send_reminders(&viewer, t, today, None, true).await;
        assert!(matches!(r, Err(AppError::Forbidden(_))), "{name}");
        let sapporo = common::actor("011002", "kita", "role:clerk");
        let r = w
            .app
            .subscribe_reminders(&sapporo, t, parent, "a@example.jp", "窓口")
            .await;
        assert!(matches!(r, Err(AppError::NotFound(_))), "{name}: {r:?}");
        let r = w
            .app
            .unsubscribe_reminders(&sapporo, t, parent, "窓口")
            .await;
        assert!(matches!(r, Err(AppError::NotFound(_))), "{name}");
        // A real run without a relay is refused; the dry run needs none.
        let clerk = common::actor("132098", "madoguchi", "role:clerk");
        let r = w.app.send_reminders(&clerk, t, today, None, false).await;
        assert!(matches!(r, Err(AppError::Invalid(_))), "{name}");
        // A relay without encryption is for this host only.
        let remote = Mailer::new(&MailConfig {
            smtp_host: Some("mail.example.jp".into()),
            security: Some("none".into()),
            from: Some("a@example.jp".into()),
            public_url: Some("https://x.example.jp".into()),
            ..MailConfig::default()
        });
        assert!(matches!(remote, Err(AppError::Invalid(_))), "{name}");
        assert!(
            w.store
                .subscriptions_of(t, parent)
                .await
                .unwrap()
                .is_empty()
        );
        let refused = entries(&w.store, t, "reminder.optin").await;
        assert!(refused.iter().any(|e| e.outcome == "refused"), "{name}");
    }
}
