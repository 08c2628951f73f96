//! `slack-audit state show|reset|set`: inspect or move a stream's checkpoint. Changes take the
//! stream's lock, so they are refused while a collector runs, and need `--yes`.

use super::exit;
use super::ui::Ui;
use slack_audit::config::{parse_since, Config};
use slack_audit::error::Error;
use slack_audit::streams::{list_streams, open_stream, peek, streams_for, StreamSpec, StreamState};

fn when(t: i64) -> String {
    let st = std::time::UNIX_EPOCH + std::time::Duration::from_secs(t.max(0) as u64);
    format!("{t} ({})", humantime::format_rfc3339_seconds(st))
}

pub fn show(cfg: &Config, ui: &mut Ui) -> i32 {
    let mut code = exit::OK;
    for spec in streams_for(cfg) {
        let file = cfg.state_dir.join(format!("{}.json", spec.name));
        match peek(&cfg.state_dir, &spec.name, &spec.description) {
            Ok(None) => println!(
                "stream {} ({}): no state yet at {}; the first run reads from {}",
                spec.name,
                spec.description,
                file.display(),
                when(cfg.since)
            ),
            Ok(Some(s)) => {
                println!("stream {} ({}): {}", spec.name, spec.description, file.display());
                print_state(&s, cfg.since);
            }
            Err(e) => code = exit::report(ui, &e),
        }
    }
    // Files of streams this configuration does not read (another filter, another source):
    // a changed `actions`, `actor` or `entity` starts a new stream and leaves these behind.
    let ours: Vec<String> = streams_for(cfg).into_iter().map(|s| s.name).collect();
    for f in list_streams(&cfg.state_dir).into_iter().filter(|f| !ours.contains(&f.name)) {
        let file = cfg.state_dir.join(format!("{}.json", f.name));
        println!("stream {} ({}): {} [not read by this configuration]", f.name, f.stream, file.display());
        match f.state {
            Ok(s) => print_state(&s, cfg.since),
            Err(e) => println!("  unreadable: {e}"),
        }
    }
    code
}

/// The lines of `state show` for one stream's state, as its source words them.
fn print_state(s: &StreamState, since: i64) {
    for line in s.source.view().show(s.delivered_total, since, &when) {
        println!("{line}");
    }
}

/// Replaces each stream's state by `new_state(old)`, under its lock.
fn rewrite(
    cfg: &Config,
    ui: &mut Ui,
    what: &str,
    yes: bool,
    new_state: impl Fn(&StreamSpec, &StreamState) -> Option<StreamState>,
) -> i32 {
    if !yes {
        let e = Error::config(format!(
            "this would {what} for every stream of this configuration in {}; add --yes to do it",
            cfg.state_dir.display()
        ));
        return exit::report(ui, &e);
    }
    for spec in streams_for(cfg) {
        let (store, old) = match open_stream(&cfg.state_dir, &spec.name, &spec.description) {
            Ok(x) => x,
            Err(e) => return exit::report(ui, &e),
        };
        let result = match new_state(&spec, &old) {
            Some(s) => store.save(&s),
            None => match std::fs::remove_file(store.path()) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    Err(Error::state(format!("cannot remove {}: {e}", store.path().display())))
                }
                _ => Ok(()),
            },
        };
        if let Err(e) = result {
            return exit::report(ui, &e);
        }
        println!("stream {}: done ({what})", spec.name);
    }
    exit::OK
}

pub fn reset(cfg: &Config, yes: bool, ui: &mut Ui) -> i32 {
    rewrite(cfg, ui, "delete the checkpoint (the next run reads again from `since`)", yes, |_, _| None)
}

pub fn set(cfg: &Config, checkpoint: &str, yes: bool, ui: &mut Ui) -> i32 {
    let Some(t) = parse_since(checkpoint, slack_audit::config::now_unix()) else {
        let e = Error::config(format!(
            "--checkpoint {checkpoint:?}: expected Unix seconds, an RFC 3339 time or a relative age (30d)"
        ));
        return exit::report(ui, &e);
    };
    rewrite(cfg, ui, &format!("move the checkpoint to {}", when(t)), yes, |spec, old| {
        // Each source says what its checkpoint is (access and integration: the floor below
        // which rows are not delivered again); the counters are kept.
        Some(StreamState {
            delivered_total: old.delivered_total,
            last_delivery: old.last_delivery,
            source: spec.kind().with_checkpoint(t),
        })
    })
}
