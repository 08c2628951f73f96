//! `slack-audit run`: hand every entry to stdout as one JSON line, flush, then acknowledge.

use super::{exit, signals};
use slack_audit::collector::CollectError;
use slack_audit::config::Config;
use slack_audit::encode::ndjson_line;
use slack_audit::runtime::{Collected, Collection, StartError};
use std::io::{ErrorKind, Write};
use std::time::{Duration, Instant};

pub fn run(cfg: Config, once: bool, progress_every: u64) -> i32 {
    let mut collection = match Collection::start(cfg) {
        Ok(c) => c,
        Err(StartError::Config(e)) => {
            eprintln!("slack-audit: {e}");
            return exit::CONFIG;
        }
        Err(StartError::State(e)) => {
            eprintln!("slack-audit: {e}");
            return exit::STATE;
        }
    };
    let interrupter = collection.interrupter();
    signals::install(move || interrupter.interrupt());

    let started = Instant::now();
    let mut last_progress = Instant::now();
    let mut out = std::io::stdout().lock();
    let mut buf = Vec::with_capacity(1 << 20);
    let code = loop {
        print_logs(&collection);
        if signals::stop_requested() {
            eprintln!("slack-audit: stopping on signal; everything written is acknowledged");
            break exit::OK;
        }
        if progress_every > 0 && last_progress.elapsed() >= Duration::from_secs(progress_every) {
            last_progress = Instant::now();
            progress_line(&collection, started);
        }
        match collection.collect(Duration::from_millis(250)) {
            Ok(Collected::Batch(batch)) => {
                buf.clear();
                for i in 0..batch.len() {
                    ndjson_line(&mut buf, batch.event(i).0);
                }
                if let Err(e) = out.write_all(&buf).and_then(|_| out.flush()) {
                    // The reader went away: nothing of this batch is acknowledged, so the next
                    // run delivers it again.
                    if e.kind() == ErrorKind::BrokenPipe {
                        eprintln!("slack-audit: stdout closed; exiting without acknowledging the unwritten batch");
                        break exit::OK;
                    }
                    eprintln!("slack-audit: cannot write to stdout: {e}");
                    break exit::OUTPUT;
                }
                if let Err(e) = collection.ack(batch.id) {
                    eprintln!("slack-audit: {e}");
                    break exit::STATE;
                }
            }
            Ok(Collected::Nothing) | Ok(Collected::Interrupted) => {
                if once && collection.caught_up() {
                    break exit::OK;
                }
            }
            Err(CollectError::Permanent(m)) => {
                print_logs(&collection);
                eprintln!("slack-audit: {m}");
                break if m.starts_with("cannot write state") { exit::STATE } else { exit::PERMANENT };
            }
            Err(CollectError::Transient(m)) => {
                if once {
                    print_logs(&collection);
                    eprintln!("slack-audit: {m}; progress so far is saved, run again later");
                    break exit::TRANSIENT;
                }
            }
            Err(CollectError::Stopped) => break exit::OK,
        }
    };
    print_logs(&collection);
    summary_line(&collection, started);
    collection.shutdown(Duration::from_millis(500));
    code
}

fn print_logs(c: &Collection) {
    while let Some((level, msg)) = c.next_log() {
        eprintln!("slack-audit: {}: {msg}", level.name());
    }
}

fn progress_line(c: &Collection, started: Instant) {
    let s = c.stats();
    let secs = started.elapsed().as_secs_f64().max(0.001);
    let window = s.window_progress.map(|p| format!(" window={:.0}%", p * 100.0)).unwrap_or_default();
    let lag = s.lag_seconds.map(|l| format!(" lag={l}s")).unwrap_or_default();
    eprintln!(
        "slack-audit: progress events={} pages={} calls={} retries={} rate_limited={} {:.0} events/s{window}{lag}",
        s.events_acked,
        s.pages,
        s.calls,
        s.retries,
        s.rate_limited,
        s.events_acked as f64 / secs
    );
}

fn summary_line(c: &Collection, started: Instant) {
    let s = c.stats();
    eprintln!(
        "slack-audit: done: {} events written and acknowledged, {} pages, {} calls ({} retries, {} rate limited, {} expired cursors), {} duplicates dropped, {:.1} s",
        s.events_acked,
        s.pages,
        s.calls,
        s.retries,
        s.rate_limited,
        s.invalid_cursors,
        s.duplicates_dropped,
        started.elapsed().as_secs_f64()
    );
}
