//! The outage harness: runs every scenario against every client variant and writes the report.
//!
//! ```text
//! cargo run --release -p breaker-examples --bin outage                 # full run, writes docs/outage/
//! cargo run --release -p breaker-examples --bin outage -- --short      # the CI mode (~20 s), writes nothing
//! cargo run --release -p breaker-examples --bin outage -- --only hang,queue --out /tmp/outage
//! ```

use std::path::PathBuf;
use std::process::ExitCode;

use breaker_examples::harness::{self, Fault, Margin, Mode, Options};

fn usage() -> String {
    let names: Vec<&str> = Fault::ALL.iter().map(|f| f.name()).collect();
    format!("usage: outage [--short] [--only {}] [--out DIR]", names.join(","))
}

fn parse() -> Result<(Options, Option<PathBuf>), String> {
    let mut options = Options { mode: Mode::Full, only: Vec::new() };
    let mut out = None;
    let mut write = true;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--short" => {
                options.mode = Mode::Short;
                write = false;
            }
            "--only" => {
                let list = args.next().ok_or_else(|| "`--only` needs a scenario list".to_owned())?;
                for name in list.split(',') {
                    let fault = Fault::from_name(name.trim())
                        .ok_or_else(|| format!("unknown scenario `{name}`; {}", usage()))?;
                    options.only.push(fault);
                }
            }
            "--out" => out = Some(PathBuf::from(args.next().ok_or_else(|| "`--out` needs a directory".to_owned())?)),
            "--help" | "-h" => return Err(usage()),
            other => return Err(format!("unknown option `{other}`; {}", usage())),
        }
    }
    let default = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/outage");
    Ok((options, out.or(write.then_some(default))))
}

#[tokio::main]
async fn main() -> ExitCode {
    let (options, out) = match parse() {
        Ok(parsed) => parsed,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    let report = match harness::run(&options).await {
        Ok(report) => report,
        Err(e) => {
            eprintln!("outage: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Some(dir) = out {
        if let Err(e) = report.write(&dir) {
            eprintln!("outage: cannot write {}: {e}", dir.display());
            return ExitCode::FAILURE;
        }
        println!("wrote {}", dir.join("report.md").display());
    }
    let mut failed = 0;
    for check in report.checks(Margin::STRICT) {
        let verdict = match (check.applies, check.ok) {
            (false, _) => "n/a ",
            (true, true) => "ok  ",
            (true, false) => "MISS",
        };
        println!("{verdict} {:<9} {:<28} {} ({})", check.scenario, check.client, check.property, check.measured);
        if !check.ok && check.asserted {
            failed += 1;
        }
    }
    println!("{:.0} s; {failed} asserted target(s) missed", report.elapsed.as_secs_f64());
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
