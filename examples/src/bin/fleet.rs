//! The fleet harness: six replica processes (one hot at ten times the rate of the others)
//! against one flaky dependency and one `redis-server`, each scenario with independent
//! breakers and with `breaker-redis`, side by side.
//!
//! ```text
//! cargo run --release -p breaker-examples --bin fleet                # full run, writes docs/fleet/
//! cargo run --release -p breaker-examples --bin fleet -- --short     # the CI mode, writes nothing
//! cargo run --release -p breaker-examples --bin fleet -- --only down,partition --out /tmp/fleet
//! ```

use std::path::PathBuf;
use std::process::ExitCode;

use breaker_examples::fleet::{self, Options, ReplicaArgs, Scenario};

fn usage() -> String {
    let names: Vec<&str> = Scenario::ALL.iter().map(|s| s.name()).collect();
    format!("usage: fleet [--short] [--only {}] [--out DIR]", names.join(","))
}

#[tokio::main]
async fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(e) => {
            eprintln!("fleet: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut options = Options { exe, only: Vec::new(), scale: 2 };
    let mut out = Some(PathBuf::from("docs/fleet"));
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--replica" => {
                let parsed: Result<ReplicaArgs, String> = args
                    .next()
                    .ok_or_else(|| "`--replica` needs its JSON".to_owned())
                    .and_then(|j| serde_json::from_str(&j).map_err(|e| e.to_string()));
                return match parsed {
                    Ok(replica) => match fleet::replica::run(replica).await {
                        Ok(()) => ExitCode::SUCCESS,
                        Err(e) => {
                            eprintln!("fleet replica: {e}");
                            ExitCode::FAILURE
                        }
                    },
                    Err(e) => {
                        eprintln!("fleet replica: {e}");
                        ExitCode::FAILURE
                    }
                };
            }
            "--short" => {
                options.scale = 1;
                out = None;
            }
            "--only" => {
                for name in args.next().unwrap_or_default().split(',') {
                    match Scenario::ALL.iter().find(|s| s.name() == name.trim()) {
                        Some(s) => options.only.push(*s),
                        None => {
                            eprintln!("unknown scenario `{name}`; {}", usage());
                            return ExitCode::FAILURE;
                        }
                    }
                }
            }
            "--out" => out = args.next().map(PathBuf::from),
            _ => {
                eprintln!("{}", usage());
                return ExitCode::FAILURE;
            }
        }
    }
    let report = match fleet::run(&options).await {
        Ok(report) => report,
        Err(e) => {
            eprintln!("fleet: {e}");
            return ExitCode::FAILURE;
        }
    };
    let markdown = report.markdown();
    println!("{markdown}");
    if let Some(dir) = out {
        if let Err(e) = write(&report, &markdown, &dir) {
            eprintln!("fleet: writing {}: {e}", dir.display());
            return ExitCode::FAILURE;
        }
        println!("wrote {}", dir.display());
    }
    if report.checks().iter().all(|c| c.ok) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn write(report: &fleet::Report, markdown: &str, dir: &std::path::Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let mut md = String::from(
        "# Fleet harness report\n\nWritten by `cargo run --release -p breaker-examples --bin fleet`: six replica \
         processes (replica 0 at ten times the rate of the others), one loopback dependency, one private \
         `redis-server`, on the machine that ran it. Columns: requests the dependency received from the first \
         opening to the end of the outage; the slowest replica's delay to open, and to be sensitised or open \
         (`hint`), after the first opening; the most probes in any window as long as the open wait; the \
         success rate of every replica but the partitioned one (replica 5); the slowest breaker decision and \
         the worst replica's call p99; state changes; the slowest replica's link back after Redis restarted.\n\n",
    );
    md.push_str(markdown);
    for s in Scenario::ALL {
        if let Some(svg) = report.svg(s) {
            std::fs::write(dir.join(format!("{}.svg", s.name())), svg)?;
            md.push_str(&format!("\n![{0}]({0}.svg)\n", s.name()));
        }
    }
    std::fs::write(dir.join("report.md"), md)
}
