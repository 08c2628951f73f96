//! `slack-audit state show|reset|set`: inspect or move a stream's checkpoint. Changes take the
//! stream's lock, so they are refused while a collector runs, and need `--yes`.

use super::exit;
use super::ui::Ui;
use slack_audit::collector::streams_for;
use slack_audit::config::{parse_since, Config};
use slack_audit::logs::Level;
use slack_audit::sequence::StreamState;
use slack_audit::state::{open_stream, peek};

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
                match s.checkpoint {
                    Some(c) => println!("  checkpoint: {}", when(c)),
                    None => println!("  checkpoint: none yet (first window in progress)"),
                }
                println!("  delivered: {} events; {} boundary ids remembered", s.delivered_total, s.seen.len());
                if let Some(f) = &s.inflight {
                    println!(
                        "  in flight: window {} .. {}, lowest delivered {}, {} delivered so far, cursor {}, {} restarts",
                        when(f.oldest),
                        when(f.latest),
                        f.lowest.map(when).unwrap_or_else(|| "none".into()),
                        f.delivered,
                        if f.cursor.is_some() { "saved" } else { "none" },
                        f.restarts
                    );
                }
            }
            Err(e) => {
                ui.log(Level::Error, &e.0);
                code = exit::STATE;
            }
        }
    }
    code
}

/// Replaces each stream's state by `new_state(old)`, under its lock.
fn rewrite(
    cfg: &Config,
    ui: &mut Ui,
    what: &str,
    yes: bool,
    new_state: impl Fn(&StreamState) -> Option<StreamState>,
) -> i32 {
    if !yes {
        ui.log(
            Level::Error,
            &format!(
                "this would {what} for every stream of this configuration in {}; add --yes to do it",
                cfg.state_dir.display()
            ),
        );
        return exit::CONFIG;
    }
    for spec in streams_for(cfg) {
        let (store, old) = match open_stream(&cfg.state_dir, &spec.name, &spec.description) {
            Ok(x) => x,
            Err(e) => {
                ui.log(Level::Error, &e.0);
                return exit::STATE;
            }
        };
        let result = match new_state(&old) {
            Some(s) => store.save(&s),
            None => match std::fs::remove_file(store.path()) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    Err(slack_audit::state::StateError(format!("cannot remove {}: {e}", store.path().display())))
                }
                _ => Ok(()),
            },
        };
        if let Err(e) = result {
            ui.log(Level::Error, &e.0);
            return exit::STATE;
        }
        println!("stream {}: done ({what})", spec.name);
    }
    exit::OK
}

pub fn reset(cfg: &Config, yes: bool, ui: &mut Ui) -> i32 {
    rewrite(cfg, ui, "delete the checkpoint (the next run reads again from `since`)", yes, |_| None)
}

pub fn set(cfg: &Config, checkpoint: &str, yes: bool, ui: &mut Ui) -> i32 {
    let Some(t) = parse_since(checkpoint, slack_audit::config::now_unix()) else {
        ui.log(
            Level::Error,
            &format!("--checkpoint {checkpoint:?}: expected Unix seconds, an RFC 3339 time or a relative age (30d)"),
        );
        return exit::CONFIG;
    };
    rewrite(cfg, ui, &format!("move the checkpoint to {}", when(t)), yes, |old| {
        Some(StreamState { checkpoint: Some(t), delivered_total: old.delivered_total, ..Default::default() })
    })
}
