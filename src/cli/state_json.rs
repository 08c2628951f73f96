//! `slack-audit state show --json`: the same facts as `state show`, as one JSON object for
//! scripts and monitoring (`jq '.streams[] | {name, lag_seconds}'`).

use super::exit;
use super::ui::Ui;
use serde_json::{json, Value};
use slack_audit::config::{now_unix, Config};
use slack_audit::streams::{peek, rfc3339, streams_for};

fn time(t: Option<i64>) -> Value {
    t.map(|t| json!({ "unix": t, "rfc3339": rfc3339(t) })).unwrap_or(Value::Null)
}

pub fn show(cfg: &Config, ui: &mut Ui) -> i32 {
    let now = now_unix();
    let mut code = exit::OK;
    let mut streams = Vec::new();
    let mut known = Vec::new();
    for spec in streams_for(cfg) {
        let file = cfg.state_dir.join(format!("{}.json", spec.name));
        known.push(format!("{}.json", spec.name));
        let mut entry = json!({
            "name": spec.name,
            "description": spec.description,
            "source": spec.source.name(),
            "file": file.display().to_string(),
        });
        match peek(&cfg.state_dir, &spec.name, &spec.description) {
            Ok(None) => {
                entry["state"] = Value::Null;
                entry["first_run_reads_from"] = time(Some(cfg.since));
            }
            Ok(Some(s)) => {
                let mut state = s.source.view().to_json(&time);
                state.insert("delivered_total".into(), s.delivered_total.into());
                state.insert("last_delivery".into(), time(s.last_delivery));
                entry["state"] = Value::Object(state);
                entry["lag_seconds"] = s.lag_behind(now).map(Value::from).unwrap_or(Value::Null);
            }
            Err(e) => {
                code = exit::report(ui, &e);
                entry["error"] = Value::String(e.into_message());
            }
        }
        streams.push(entry);
    }
    // State files of other configurations (other filters or sources) in the same directory.
    let mut others: Vec<String> = std::fs::read_dir(&cfg.state_dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".json") && !known.contains(n))
                .collect()
        })
        .unwrap_or_default();
    others.sort();
    let doc = json!({
        "state_dir": cfg.state_dir.display().to_string(),
        "now": time(Some(now)),
        "streams": streams,
        "other_state_files": others,
    });
    println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
    code
}
