//! The mail relay reminders go out through (lettre over SMTP): STARTTLS or TLS with the
//! system's root certificates, plain SMTP only to a relay on this host, and a few tries with a
//! growing pause before a mail is given up on.

use std::time::Duration;

use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::AppError;
use crate::settings::MailConfig;

/// A configured relay.
#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    pub from: Mailbox,
    /// Without a trailing slash.
    pub public_url: String,
    attempts: u32,
    pause: Duration,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer")
            .field("from", &self.from.to_string())
            .field("public_url", &self.public_url)
            .finish_non_exhaustive()
    }
}

fn setting(what: &str) -> AppError {
    AppError::Invalid(format!("[mail] {what}"))
}

fn is_loopback(host: &str) -> bool {
    matches!(host, "localhost" | "127.0.0.1" | "::1" | "[::1]")
}

impl Mailer {
    pub fn new(c: &MailConfig) -> Result<Self, AppError> {
        let host = c
            .smtp_host
            .as_deref()
            .map(str::trim)
            .filter(|h| !h.is_empty())
            .ok_or_else(|| setting("smtp_host が設定されていません"))?;
        let relay_error = |e: lettre::transport::smtp::Error| setting(&format!("smtp_host: {e}"));
        let builder = match c.security.as_deref().unwrap_or("starttls") {
            "starttls" => {
                AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(host).map_err(relay_error)?
            }
            "tls" => AsyncSmtpTransport::<Tokio1Executor>::relay(host).map_err(relay_error)?,
            "none" if is_loopback(host) => {
                AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
            }
            "none" => {
                return Err(setting(
                    "security = \"none\" (暗号化なし) は、このサーバー上の中継 (localhost) にだけ使えます",
                ));
            }
            other => {
                return Err(setting(&format!(
                    "security は starttls, tls, none のいずれかです (「{other}」)"
                )));
            }
        };
        let mut builder = builder.timeout(Some(Duration::from_secs(30)));
        if let Some(port) = c.smtp_port {
            builder = builder.port(port);
        }
        let password = std::env::var("SESSHU_SMTP_PASSWORD")
            .ok()
            .or_else(|| c.password.clone());
        if let (Some(user), Some(password)) = (&c.username, password) {
            builder = builder.credentials(Credentials::new(user.clone(), password));
        }
        let from: Mailbox = c
            .from
            .as_deref()
            .ok_or_else(|| setting("from (差出人) が設定されていません"))?
            .parse()
            .map_err(|e| setting(&format!("from: {e}")))?;
        let public_url = c
            .public_url
            .as_deref()
            .map(|u| u.trim().trim_end_matches('/').to_owned())
            .filter(|u| u.starts_with("https://") || u.starts_with("http://"))
            .ok_or_else(|| {
                setting("public_url (配信停止のリンクに使う、このサーバーの URL) が必要です")
            })?;
        Ok(Self {
            transport: builder.build(),
            from,
            public_url,
            attempts: c.attempts.unwrap_or(3).clamp(1, 10),
            pause: Duration::from_secs(c.retry_seconds.unwrap_or(5)),
        })
    }

    /// Sends, trying again after a pause (doubling) on a transient failure: the tries made, and
    /// the last error when none succeeded.
    pub async fn send(&self, message: &Message) -> (u32, Option<String>) {
        let mut pause = self.pause;
        let mut last = None;
        for attempt in 1..=self.attempts {
            match self.transport.send(message.clone()).await {
                Ok(_) => return (attempt, None),
                Err(e) => {
                    let permanent = e.is_permanent();
                    last = Some(e.to_string());
                    if permanent {
                        return (attempt, last);
                    }
                }
            }
            if attempt < self.attempts {
                tokio::time::sleep(pause).await;
                pause *= 2;
            }
        }
        (self.attempts, last)
    }
}
