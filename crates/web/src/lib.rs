//! The HTTP side: the staff pages (server-rendered Japanese HTML) and the JSON API, both behind
//! sessions or API tokens, permission checks and the audit log.

mod api;
mod pages;
mod problem;
mod session;
mod state;

pub use api::{AppState, router};
pub use sesshu_app::{today_in_japan, view};
pub use session::Throttle;
