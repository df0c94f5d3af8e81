use thiserror::Error;

/// Why a rules file or an evaluation request was refused.
#[derive(Debug, Error)]
pub enum RuleError {
    #[error("{0}")]
    Term(String),
    #[error("規則ファイルが読めません: {0}")]
    File(String),
    #[error("規則ファイルの設定 {0:?} がありません")]
    UnknownSetting(String),
    #[error("規則ファイルの誤り: {0}")]
    Invalid(String),
    #[error("入力の誤り: {0}")]
    Input(String),
}
