//! The auditor's work on a municipality's log (audit.read): search it, export it, verify its
//! chain. Each is itself an entry: the conditions of a search, the rows it gave, the verdict.
//! (Verifying every chain of the deployment and the retention job are the host operator's,
//! in the command line: they act on the deployment's own chain too.)

use serde::Deserialize;
use serde_json::json;
use sesshu_domain::access::Permission;
use sesshu_domain::{MunicipalityCode, parse_date};
use sesshu_store::{AuditEntry, AuditQuery, AuditVerification, Outcome};

use crate::{Actor, App, AppError};

/// Why the entries are read: shown on a page, or exported to a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditUse {
    Search,
    Export,
}

/// The Japanese name of every function the log records, as staff and auditors call it. Kept as
/// data: a new operation adds its line (a code missing here is shown as it is).
pub const FUNCTIONS: &[(&str, &str)] = &[
    ("person.search", "宛名の検索"),
    ("person.read", "宛名の閲覧"),
    ("person.duplicates", "重複の可能性がある宛名の一覧"),
    ("relief.receive", "健康被害救済の受付"),
    ("relief.document", "健康被害救済の書類の受付"),
    ("relief.step", "健康被害救済の手続の記録"),
    ("relief.read", "健康被害救済の案件の閲覧"),
    ("relief.letter", "健康被害救済の通知の作成"),
    ("register.purge.plan", "保存期間を過ぎた記録の削除計画"),
    ("register.purge.read", "削除計画の閲覧"),
    ("register.purge.approve", "削除計画の承認"),
    ("register.purge.cancel", "削除計画の取消"),
    ("register.purge.execute", "保存期間を過ぎた記録の削除"),
    ("person.link", "記録の統合"),
    ("person.unlink", "記録の統合の解除"),
    ("person.links", "記録の統合の一覧"),
    ("person.suspend", "利用停止の登録"),
    ("person.lift_suspension", "利用停止の解除"),
    ("exemption.record", "実費徴収の免除決定の登録"),
    ("exemption.revoke", "実費徴収の免除決定の取消"),
    ("exemption.read", "実費徴収の免除決定の閲覧"),
    ("request.receive", "開示等の請求の受付"),
    ("request.extend", "開示等の請求の期限延長"),
    ("request.answer", "開示等の請求への回答"),
    ("request.read", "開示等の請求簿の閲覧"),
    ("request.disclosure", "開示する情報の出力"),
    ("mynumber.search", "個人番号による検索"),
    ("mynumber.reveal", "個人番号の表示"),
    ("dose.read", "接種記録の閲覧"),
    ("dose.write", "接種記録の登録・訂正・削除"),
    ("dose.flagged", "要確認の接種記録の閲覧"),
    ("dose.review", "要確認の接種記録への対応"),
    ("schedule.forecast", "接種予定の集計"),
    ("stats.read", "統計の閲覧"),
    ("import.residents", "住民記録の取込"),
    ("import.doses", "接種記録の取込"),
    ("import.read", "取込履歴の閲覧"),
    ("import.errors", "取込エラーの出力"),
    ("notice.extract", "対象者の抽出"),
    ("notice.plan", "通知の計画"),
    ("notice.approve", "通知の承認"),
    ("notice.cancel", "通知の取消"),
    ("notice.issue", "通知の印刷"),
    ("notice.list", "通知の一覧"),
    ("notice.read", "通知の閲覧"),
    ("notice.download", "通知ファイルのダウンロード"),
    ("ticket.reissue", "接種券の再発行"),
    ("certificate.issue", "証明書の発行"),
    ("certificate.list", "証明書の一覧"),
    ("certificate.read", "証明書の閲覧"),
    ("certificate.download", "証明書のダウンロード"),
    ("certificate.revoke", "証明書の失効"),
    ("certificate.verify", "証明書の真正性確認"),
    ("job.start", "処理の開始"),
    ("job.read", "処理状況の閲覧"),
    ("auth.login", "ログイン"),
    ("auth.logout", "ログアウト"),
    ("auth.password", "パスワードの変更"),
    ("auth.totp", "二要素認証"),
    ("auth.token", "APIトークンによる認証"),
    ("user.admin", "利用者の管理"),
    ("user.list", "利用者の一覧"),
    ("user.review", "アクセス権の棚卸し"),
    ("token.admin", "APIトークンの管理"),
    ("token.list", "APIトークンの一覧"),
    ("keys.create", "暗号鍵の作成"),
    ("keys.rotate", "暗号鍵の更新"),
    ("keys.retire", "旧暗号鍵の廃棄"),
    ("keys.certificate_rotate", "証明書署名鍵の更新"),
    ("municipality.create", "団体の登録"),
    ("audit.read", "操作ログの検索"),
    ("audit.export", "操作ログの出力"),
    ("audit.verify", "操作ログの改ざん検証"),
    ("backup.run", "バックアップ"),
    ("assessment.facts", "評価の裏付けの集計"),
    ("backup.restore", "バックアップからの復元"),
    ("audit.checkpoint", "操作ログの検証点の記録"),
    ("audit.retention", "操作ログの保存期間処理"),
];

/// A function's Japanese name, or its code when the catalogue does not know it.
pub fn function_label(code: &str) -> &str {
    FUNCTIONS
        .iter()
        .find(|(c, _)| *c == code)
        .map_or(code, |(_, label)| label)
}

/// An outcome as the log's reader says it.
pub fn outcome_label(outcome: &str) -> &str {
    match outcome {
        "ok" => "成功",
        "refused" => "拒否",
        "failed" => "失敗",
        other => other,
    }
}

/// Entries as the auditor's CSV (the same file from the pages and the command line): Japan
/// time, the function's name beside its code, the outcome in words, and both hashes so the file
/// can be checked against the chain.
pub fn audit_csv(entries: &[AuditEntry]) -> String {
    let mut out = String::from(crate::spreadsheet::BOM);
    crate::spreadsheet::push_row(
        &mut out,
        &[
            "団体",
            "連番",
            "日時 (日本時間)",
            "操作者",
            "種別",
            "接続元",
            "機能",
            "機能コード",
            "結果",
            "操作対象",
            "表示対象",
            "詳細",
            "前ハッシュ",
            "ハッシュ",
        ],
    );
    for e in entries {
        let seq = e.seq.to_string();
        let at = sesshu_domain::japan_seconds(&e.at);
        crate::spreadsheet::push_row(
            &mut out,
            &[
                &e.municipality_code,
                &seq,
                &at,
                &e.actor,
                &e.actor_kind,
                e.source.as_deref().unwrap_or(""),
                function_label(&e.function),
                &e.function,
                outcome_label(&e.outcome),
                &e.persons_acted,
                &e.persons_shown,
                &e.detail,
                &e.prev_hash,
                &e.hash,
            ],
        );
    }
    out
}

/// An auditor's search as typed (the page's form, the API's query, the command line's flags).
/// Dates are days in Japan, both ends included; an impossible date is an error, not an empty
/// result.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct AuditSearch {
    /// 宛名番号 of a person acted on or shown.
    pub person: Option<String>,
    /// `user:<login>`, `token:<id>`, `cli:<user>`.
    pub actor: Option<String>,
    pub function: Option<String>,
    pub from: Option<String>,
    pub until: Option<String>,
    /// The next page of a newest-first search: entries older than this number.
    pub before: Option<i64>,
    #[serde(default)]
    pub newest_first: bool,
    pub limit: Option<u32>,
}

/// One page of entries, and whether older ones meet the search too.
#[derive(Debug, serde::Serialize)]
pub struct AuditEntries {
    pub entries: Vec<AuditEntry>,
    pub more: bool,
}

impl AuditSearch {
    /// The store's query, or every field that is wrong, each named.
    pub fn query(&self, default_limit: u32) -> Result<AuditQuery, AppError> {
        let text = |v: &Option<String>| {
            v.as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        };
        let mut wrong = Vec::new();
        let mut day = |field: &'static str, label: &str, v: &Option<String>, next: bool| {
            let v = text(v)?;
            // An instant (2026-04-01T09:00:00+09:00) is taken as it is, for scripts.
            if v.len() > 10 && chrono::DateTime::parse_from_rfc3339(&v).is_ok() {
                return Some(v);
            }
            match parse_date(&v) {
                Ok(d) if next => d.succ_opt().map(|d| d.to_string()),
                Ok(d) => Some(d.to_string()),
                Err(e) => {
                    wrong.push((field, format!("{label}: {e}")));
                    None
                }
            }
        };
        let from = day("from", "期間 (から)", &self.from, false);
        // The last day is included: entries before the start of the next day.
        let until = day("until", "期間 (まで)", &self.until, true);
        if !wrong.is_empty() {
            return Err(AppError::Fields(wrong));
        }
        Ok(AuditQuery {
            actor: text(&self.actor),
            function: text(&self.function),
            person: text(&self.person),
            from,
            until,
            before_seq: self.before,
            newest_first: self.newest_first,
            limit: self.limit.unwrap_or(default_limit).clamp(1, 1_000_000),
        })
    }
}

impl App {
    /// The municipality's entries that meet the search, recorded as `audit.read` (or
    /// `audit.export`) with the conditions and the number of rows.
    pub async fn audit_entries(
        &self,
        actor: &Actor,
        tenant: MunicipalityCode,
        search: &AuditSearch,
        usage: AuditUse,
    ) -> Result<AuditEntries, AppError> {
        let function = match usage {
            AuditUse::Search => "audit.read",
            AuditUse::Export => "audit.export",
        };
        self.authorize(actor, tenant, Permission::AuditRead, function)
            .await?;
        let default_limit = match usage {
            AuditUse::Search => 100,
            AuditUse::Export => 1_000_000,
        };
        let mut query = search.query(default_limit)?;
        let limit = query.limit;
        // One more than asked, to know whether there are more.
        query.limit = limit.saturating_add(1);
        let mut entries = self.store.audit_entries(Some(tenant), &query).await?;
        let more = entries.len() > limit as usize;
        entries.truncate(limit as usize);
        self.record(
            actor,
            function,
            Outcome::Ok,
            vec![],
            vec![],
            json!({
                "person": query.person, "actor": query.actor, "function": query.function,
                "from": query.from, "until": query.until, "before": query.before_seq,
                "limit": limit, "rows": entries.len(),
            }),
        )
        .await?;
        Ok(AuditEntries { entries, more })
    }

    /// Who appears in the log as staff, for the auditor's list: every account of the
    /// municipality (login and name), whatever its state.
    pub async fn audit_actors(
        &self,
        actor: &Actor,
        tenant: MunicipalityCode,
    ) -> Result<Vec<(String, String)>, AppError> {
        self.authorize(actor, tenant, Permission::AuditRead, "audit.read")
            .await?;
        Ok(self
            .store
            .accounts(tenant)
            .await?
            .into_iter()
            .map(|a| (format!("user:{}", a.login), a.display_name))
            .collect())
    }

    /// Verifies the municipality's chain (with the key, its signed checkpoints and retention
    /// summaries too); the verdict is recorded, `failed` when the chain is broken.
    pub async fn verify_audit(
        &self,
        actor: &Actor,
        tenant: MunicipalityCode,
    ) -> Result<AuditVerification, AppError> {
        self.authorize(actor, tenant, Permission::AuditRead, "audit.verify")
            .await?;
        let v = self
            .store
            .verify_audit_of(Some(&*self.keyring()?), tenant)
            .await?;
        let broken = v.broken.is_some();
        self.record(
            actor,
            "audit.verify",
            if broken { Outcome::Failed } else { Outcome::Ok },
            vec![],
            vec![],
            json!({"entries": v.entries, "broken": v.broken, "anchored": v.anchored}),
        )
        .await?;
        Ok(v)
    }
}
