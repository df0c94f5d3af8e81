use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use sesshu_domain::parse_date;
use sesshu_formats::{DoseSubject, DoseWriter, ResidentWriter, TextEncoding};
use sesshu_synth::{Town, TownSpec};

#[derive(Debug, clap::Subcommand)]
pub enum DemoCommand {
    /// Write a synthetic town as a resident-register feed (deterministic for a seed)
    Generate(GenerateArgs),
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum FeedEncoding {
    Sjis,
    Utf8,
}

impl From<FeedEncoding> for TextEncoding {
    fn from(e: FeedEncoding) -> Self {
        match e {
            FeedEncoding::Sjis => TextEncoding::ShiftJis,
            FeedEncoding::Utf8 => TextEncoding::Utf8,
        }
    }
}

#[derive(Debug, clap::Args)]
pub struct GenerateArgs {
    /// How many persons the synthetic town has
    #[arg(long, default_value_t = 10_000)]
    persons: usize,
    /// Random seed: the same seed writes the same town
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Output file ('-' for standard output)
    #[arg(long, default_value = "-")]
    out: PathBuf,
    /// Text encoding of the files written
    #[arg(long, value_enum, default_value = "sjis")]
    encoding: FeedEncoding,
    /// The day the feed describes [default: today in Japan]
    #[arg(long)]
    as_of: Option<String>,
    /// Also write a diff feed with this many changes (births, moves, deaths, name changes)
    #[arg(long, requires = "changes_out")]
    changes: Option<usize>,
    /// Where to write the diff feed of --changes
    #[arg(long)]
    changes_out: Option<PathBuf>,
    /// Random seed of the diff feed
    #[arg(long, default_value_t = 2)]
    change_seed: u64,
    /// Also write the town's vaccination histories as screening-form dose data (UTF-8)
    #[arg(long)]
    doses_out: Option<PathBuf>,
}

pub async fn run(command: DemoCommand) -> Result<ExitCode> {
    let DemoCommand::Generate(args) = command;
    let as_of = match &args.as_of {
        Some(s) => parse_date(s).context("--as-of")?,
        None => sesshu_web::today_in_japan(),
    };
    let spec = TownSpec {
        persons: args.persons,
        seed: args.seed,
        as_of,
    };
    write_feed(&args.out, args.encoding.into(), Town::new(spec.clone()))?;
    if let Some(out) = &args.doses_out {
        write_doses(out, Town::new(spec.clone()), as_of, args.seed)?;
    }
    if let (Some(n), Some(out)) = (args.changes, &args.changes_out) {
        write_feed(
            out,
            args.encoding.into(),
            Town::changes(spec, n, args.change_seed).map(|(_, p)| p),
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

pub fn write_feed(
    path: &Path,
    encoding: TextEncoding,
    persons: impl Iterator<Item = sesshu_domain::Person>,
) -> Result<()> {
    let out: Box<dyn Write> = if path.as_os_str() == "-" {
        Box::new(BufWriter::new(std::io::stdout().lock()))
    } else {
        Box::new(BufWriter::with_capacity(
            1 << 20,
            File::create(path).with_context(|| format!("{} を作成できません", path.display()))?,
        ))
    };
    let mut writer = ResidentWriter::new(out, encoding)?;
    for p in persons {
        writer.write(&p)?;
    }
    writer.finish()?.flush()?;
    Ok(())
}

/// Writes the town's synthetic vaccination histories as a dose file. A few rows name the person
/// by kana and birth date only, as forms without a 宛名番号 do.
pub fn write_doses(
    path: &Path,
    persons: impl Iterator<Item = sesshu_domain::Person>,
    as_of: sesshu_domain::CivilDate,
    seed: u64,
) -> Result<u64> {
    let file =
        File::create(path).with_context(|| format!("{} を作成できません", path.display()))?;
    let mut writer = DoseWriter::new(BufWriter::with_capacity(1 << 20, file))?;
    let mut rows = 0u64;
    for p in persons {
        for dose in sesshu_synth::doses::history(&p, as_of, seed) {
            rows += 1;
            let by_kana = rows.is_multiple_of(37);
            let subject = DoseSubject {
                address_number: (!by_kana).then(|| p.address_number.clone()),
                name: Some(p.name.to_string()),
                kana: Some(p.kana.clone()),
                birth_date: p.birth_date,
                sex: Some(p.sex),
            };
            writer.write(&subject, &dose)?;
        }
    }
    writer.finish()?.flush()?;
    Ok(rows)
}
