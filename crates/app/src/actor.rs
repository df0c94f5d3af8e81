//! Who acts: a staff session, a machine token, or the operating-system user at the command line.
//! Every operation takes one, checks its permission and names it in the audit entry.

use std::collections::BTreeSet;

use sesshu_domain::MunicipalityCode;
use sesshu_domain::access::Permission;
use sesshu_store::{AuditEvent, Outcome, SessionCaller, TokenCaller, TokenScope};

#[derive(Debug, Clone)]
pub struct Actor {
    /// The municipality the actor acts in; `None` for a prefecture's token.
    pub tenant: Option<MunicipalityCode>,
    /// A prefecture's two digits: aggregate statistics of its municipalities only.
    pub prefecture: Option<String>,
    /// `token:<id>:<name>`, `user:<login>` or `cli:<os user>`, as the audit log names it.
    pub actor: String,
    /// `token`, `user` or `cli`.
    pub kind: &'static str,
    pub permissions: BTreeSet<Permission>,
    /// Where the request came from (the client's address, or the host for the command line).
    pub source: String,
    /// The medical institution (医療機関コード) a clinic's account speaks for.
    pub institution: Option<String>,
}

impl Actor {
    pub fn from_token(t: TokenCaller) -> Self {
        let (tenant, prefecture) = match t.scope {
            TokenScope::Municipality(m) => (Some(m), None),
            TokenScope::Prefecture(p) => (None, Some(p)),
        };
        Self {
            tenant,
            prefecture,
            actor: format!("token:{}:{}", t.token_id, t.name),
            kind: "token",
            permissions: t.permissions,
            source: "local".into(),
            institution: None,
        }
    }

    pub fn from_session(s: SessionCaller) -> Self {
        Self {
            tenant: Some(s.tenant),
            prefecture: None,
            actor: format!("user:{}", s.login),
            kind: "user",
            permissions: s.permissions,
            source: "local".into(),
            institution: s.institution,
        }
    }

    /// The operating-system user at the command line of this host (`SESSHU_OPERATOR`, else
    /// `USER`). Whoever can run `sesshu` here already holds the key file and the database, so
    /// the command line acts with every permission; what it does is audited all the same.
    pub fn operator(tenant: Option<MunicipalityCode>) -> Self {
        Self {
            tenant,
            prefecture: None,
            actor: operator_name(),
            kind: "cli",
            permissions: Permission::ALL.into_iter().collect(),
            source: host_name().unwrap_or_else(|| "local".into()),
            institution: None,
        }
    }

    pub fn can(&self, p: Permission) -> bool {
        self.permissions.contains(&p)
    }

    /// An audit entry by this actor.
    pub fn event(
        &self,
        function: &str,
        outcome: Outcome,
        acted: Vec<String>,
        shown: Vec<String>,
        detail: serde_json::Value,
    ) -> AuditEvent {
        AuditEvent {
            actor: self.actor.clone(),
            actor_kind: self.kind,
            source: Some(self.source.clone()),
            function: function.to_owned(),
            outcome,
            persons_acted: acted,
            persons_shown: shown,
            detail,
        }
    }
}

/// `cli:<user>`: the command line's name for whoever runs it.
pub fn operator_name() -> String {
    operator_from(
        std::env::var("SESSHU_OPERATOR")
            .or_else(|_| std::env::var("USER"))
            .ok(),
    )
}

/// `cli:<name>`, the name as given without any `cli:` it already carries: `SESSHU_OPERATOR=cli:x`
/// is the operator x, so that x cannot approve his own run under a second spelling.
fn operator_from(raw: Option<String>) -> String {
    let mut name = raw.unwrap_or_default();
    loop {
        let trimmed = name.trim();
        match trimmed.strip_prefix("cli:") {
            Some(rest) => name = rest.to_owned(),
            None => {
                name = trimmed.to_owned();
                break;
            }
        }
    }
    if name.is_empty() {
        "cli".into()
    } else {
        format!("cli:{name}")
    }
}

/// This host's name, which the command line's entries and the jobs' runner carry.
pub fn host_name() -> Option<String> {
    std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_operator_is_one_name_however_it_is_spelt() {
        for raw in ["x", "cli:x", " cli:cli:x ", "cli: x"] {
            assert_eq!(operator_from(Some(raw.into())), "cli:x", "{raw:?}");
        }
        assert_eq!(operator_from(None), "cli");
        assert_eq!(operator_from(Some("cli:".into())), "cli");
    }
}
