//! The HTTP side: a read-only JSON API over persons for now. Authentication, the audit chain
//! and the staff pages arrive with their own issues; until then `serve` binds to loopback only.

mod api;
mod clock;
mod session;
pub mod view;

pub use api::{AppState, router};
pub use clock::today_in_japan;
pub use session::Throttle;
