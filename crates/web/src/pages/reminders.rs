//! Reminder mails on the pages: the public page an unsubscribe link opens (no login: a GET only
//! asks, so that a mail scanner following links stops nothing; the button — or a mail client's
//! one-click POST, RFC 8058 — stops the mails), and the counter's opt-in and opt-out on a
//! guardian's page.

use askama::Template;
use axum::extract::{Form, Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use sesshu_app::reminders::LinkState;

use super::{Chrome, PageError, Staff, render};
use crate::state::AppState;

#[derive(Template)]
#[template(path = "unsubscribe.html")]
struct UnsubscribePage {
    chrome: Chrome,
    token: String,
    /// The masked address while the mails are in force.
    email: Option<String>,
    stopped: bool,
    unknown: bool,
}

fn page(token: &str, state: LinkState) -> Response {
    let (email, stopped, unknown) = match state {
        LinkState::Active(e) => (Some(e), false, false),
        LinkState::Stopped => (None, true, false),
        LinkState::Unknown => (None, false, true),
    };
    let status = if unknown {
        axum::http::StatusCode::NOT_FOUND
    } else {
        axum::http::StatusCode::OK
    };
    (
        status,
        render(&UnsubscribePage {
            chrome: Chrome::public("予防接種のお知らせメールの配信停止"),
            token: token.to_owned(),
            email,
            stopped,
            unknown,
        }),
    )
        .into_response()
}

pub(crate) async fn ask(
    State(state): State<AppState>,
    Path(token): Path<String>,
) -> Result<Response, PageError> {
    let link = state.app.reminder_link(&token).await?;
    Ok(page(&token, link))
}

pub(crate) async fn stop(
    State(state): State<AppState>,
    Path(token): Path<String>,
    request: axum::extract::Request,
) -> Result<Response, PageError> {
    let source = crate::state::source_of(request.extensions());
    state.app.stop_reminders_by_link(&token, &source).await?;
    let link = state.app.reminder_link(&token).await?;
    Ok(page(&token, link))
}

#[derive(Debug, Deserialize)]
pub(crate) struct ReminderForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    channel: String,
}

/// The counter's opt-in or opt-out on a guardian's page; back to the page with what was done.
pub(crate) async fn change(
    State(state): State<AppState>,
    staff: Staff,
    Path(address): Path<String>,
    Form(f): Form<ReminderForm>,
) -> Result<Response, PageError> {
    staff.check_csrf(&state, &f.csrf).await?;
    let app = &state.app;
    let done = if f.action == "stop" {
        app.unsubscribe_reminders(&staff.caller, staff.tenant, &address, &f.channel)
            .await
            .map(|_| ())
    } else {
        app.subscribe_reminders(&staff.caller, staff.tenant, &address, &f.email, &f.channel)
            .await
            .map(|_| ())
    };
    match done {
        Ok(()) => Ok(Redirect::to(&format!("/persons/{address}#reminders")).into_response()),
        // A bad address or channel: the person's page again, saying what was wrong.
        Err(sesshu_app::AppError::Field(_, m)) => {
            let mut page =
                super::register::person_with_message(&state, &staff, &address, None, Some(m))
                    .await?;
            *page.status_mut() = axum::http::StatusCode::BAD_REQUEST;
            Ok(page)
        }
        Err(e) => Err(e.into()),
    }
}
