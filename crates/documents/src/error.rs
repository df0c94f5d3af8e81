use thiserror::Error;

#[derive(Debug, Error)]
pub enum DocumentError {
    #[error(
        "フォントが見つかりません (探した場所: {0})。fonts-ipaexfont をインストールしてください"
    )]
    NoFonts(String),
    #[error("テンプレート {name} を読めません: {reason}")]
    Template { name: String, reason: String },
    #[error("テンプレート {name} の組版に失敗しました: {reason}")]
    Typeset { name: String, reason: String },
    #[error("PDF を書き出せません: {0}")]
    Pdf(String),
    #[error("{field} にフォントにない文字があります: {chars}")]
    MissingGlyphs { field: String, chars: String },
    #[error("QR コードを作れません: {0}")]
    Qr(String),
    #[error("文書データを作れません: {0}")]
    Data(#[from] serde_json::Error),
}
