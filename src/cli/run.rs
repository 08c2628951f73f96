//! `slack-audit run`: hand every entry to stdout as one JSON line, flush, then acknowledge.

use super::ui::Ui;
use super::{exit, signals};
use slack_audit::collector::{Batch, CollectError};
use slack_audit::config::Config;
use slack_audit::encode::ndjson_line;
use slack_audit::logs::Level;
use slack_audit::runtime::{Collected, Collection, StartError};
use std::io::{ErrorKind, Write};
use std::time::Duration;

pub fn run(cfg: Config, once: bool, metrics: Option<std::net::SocketAddr>, ui: &mut Ui) -> i32 {
    let mut collection = match Collection::start(cfg) {
        Ok(c) => c,
        Err(StartError::Config(e)) => {
            ui.log(Level::Error, &e.0);
            return exit::CONFIG;
        }
        Err(StartError::State(e)) => {
            ui.log(Level::Error, &e.0);
            return exit::STATE;
        }
    };
    if let Some(addr) = metrics {
        match super::metrics::serve(addr, collection.stats_source()) {
            Ok(bound) => ui.log(Level::Info, &format!("metrics at http://{bound}/metrics")),
            Err(e) => {
                ui.log(Level::Error, &format!("--metrics-listen {addr}: cannot listen: {e}"));
                return exit::CONFIG;
            }
        }
    }
    let interrupter = collection.interrupter();
    signals::install(move || interrupter.interrupt());

    let mut out = std::io::stdout().lock();
    let mut buf = Vec::with_capacity(OUT_CHUNK + (64 << 10));
    let code = loop {
        print_logs(&collection, ui);
        if signals::stop_requested() {
            ui.log(Level::Info, "stopping on signal; everything written is acknowledged");
            break exit::OK;
        }
        ui.tick(&collection.stats());
        match collection.collect(Duration::from_millis(250)) {
            Ok(Collected::Batch(batch)) => {
                if let Err(e) = write_batch(&mut out, &mut buf, &batch) {
                    // The reader went away: nothing of this batch is acknowledged, so the next
                    // run delivers it again.
                    if e.kind() == ErrorKind::BrokenPipe {
                        ui.log(Level::Info, "stdout closed; exiting without acknowledging the unwritten batch");
                        break exit::OK;
                    }
                    ui.log(Level::Error, &format!("cannot write to stdout: {e}"));
                    break exit::OUTPUT;
                }
                if let Err(e) = collection.ack(batch.id) {
                    ui.log(Level::Error, &e.to_string());
                    break exit::STATE;
                }
            }
            Ok(Collected::Nothing) | Ok(Collected::Interrupted) => {
                if once && collection.caught_up() {
                    break exit::OK;
                }
            }
            Err(CollectError::Permanent(_)) => {
                // The error was already queued as a log line by the collection.
                print_logs(&collection, ui);
                break exit::PERMANENT;
            }
            Err(CollectError::State(m)) => {
                print_logs(&collection, ui);
                ui.log(Level::Error, &m);
                break exit::STATE;
            }
            Err(CollectError::TooManyPending(m)) => {
                ui.log(Level::Error, &m);
                break exit::STATE;
            }
            Err(CollectError::Transient(m)) => {
                if once {
                    print_logs(&collection, ui);
                    ui.log(Level::Error, &format!("{m}; progress so far is saved, run again later"));
                    break exit::TRANSIENT;
                }
            }
            Err(CollectError::Stopped) => break exit::OK,
        }
    };
    print_logs(&collection, ui);
    ui.summary(&collection.stats());
    collection.shutdown(Duration::from_millis(500));
    code
}

/// Output is written in chunks of about this size, so the buffer does not grow to a whole page.
const OUT_CHUNK: usize = 256 << 10;

/// Writes every event of `batch` as one line and flushes: only then may it be acknowledged.
fn write_batch(out: &mut impl Write, buf: &mut Vec<u8>, batch: &Batch) -> std::io::Result<()> {
    buf.clear();
    for i in 0..batch.len() {
        ndjson_line(buf, batch.event(i).0);
        if buf.len() >= OUT_CHUNK {
            out.write_all(buf)?;
            buf.clear();
        }
    }
    out.write_all(buf)?;
    buf.clear();
    out.flush()
}

fn print_logs(c: &Collection, ui: &mut Ui) {
    while let Some((level, msg)) = c.next_log() {
        ui.log(level, &msg);
    }
}
