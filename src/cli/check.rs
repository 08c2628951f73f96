//! `slack-audit check`, `actions`, `schemas`: talk to Slack once, say what was found.

use super::exit;
use super::ui::Ui;
use slack_audit::config::Config;
use slack_audit::error::Error;
use slack_audit::probe;

/// A live credential test that tells apart: no token, a refused token/scope/plan, and an
/// unreachable or failing Slack; plus configured action names Slack does not know.
pub fn check(cfg: &Config, ui: &mut Ui) -> i32 {
    if let Err(e) = probe::check_steps(cfg, &mut |line| println!("{line}")) {
        return exit::report(ui, &e);
    }
    println!("ok: the token can read the audit logs at {}", cfg.api_url);
    if !(cfg.actions.is_empty() && cfg.exclude_actions.is_empty()) {
        return check_actions(cfg, ui);
    }
    exit::OK
}

/// Compares `actions`/`exclude_actions` with Slack's /actions catalog.
pub fn check_actions(cfg: &Config, ui: &mut Ui) -> i32 {
    match probe::catalog(cfg, "actions") {
        Ok(v) => {
            let unknown = probe::unknown_actions(cfg, &probe::action_names(&v));
            if unknown.is_empty() {
                println!("ok: every configured action name is known to Slack");
                exit::OK
            } else {
                let e = Error::config(format!(
                    "unknown action names: {} (run `slack-audit actions` for the list Slack knows)",
                    unknown.join(", ")
                ));
                exit::report(ui, &e)
            }
        }
        Err(e) => exit::report(ui, &e),
    }
}

/// Prints Slack's /actions or /schemas catalog (no token needed).
pub fn catalog(cfg: &Config, which: &str, ui: &mut Ui) -> i32 {
    match probe::catalog(cfg, which) {
        Ok(v) => {
            println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
            exit::OK
        }
        Err(e) => exit::report(ui, &e),
    }
}
