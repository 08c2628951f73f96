//! `slack-audit check`, `actions`, `schemas`: talk to Slack once, say what was found.

use super::exit;
use super::ui::Ui;
use slack_audit::config::Config;
use slack_audit::logs::Level;
use slack_audit::probe::{self, CheckOutcome};

/// A live credential test that tells apart: no token, a refused token/scope/plan, and an
/// unreachable or failing Slack; plus configured action names Slack does not know.
pub fn check(cfg: &Config, ui: &mut Ui) -> i32 {
    let code = match probe::check(cfg) {
        CheckOutcome::Ok => {
            println!("ok: the token can read the audit logs at {}", cfg.api_url);
            exit::OK
        }
        CheckOutcome::TokenMissing(m) => {
            ui.log(Level::Error, &format!("token missing: {m}"));
            exit::CONFIG
        }
        CheckOutcome::Refused { code, message } => {
            ui.log(Level::Error, &format!("refused ({code}): {message}"));
            exit::PERMANENT
        }
        CheckOutcome::Unreachable(m) => {
            ui.log(Level::Error, &format!("unreachable: {m}"));
            exit::TRANSIENT
        }
    };
    if code == exit::OK && !(cfg.actions.is_empty() && cfg.exclude_actions.is_empty()) {
        return check_actions(cfg, ui);
    }
    code
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
                ui.log(
                    Level::Error,
                    &format!(
                        "unknown action names: {} (run `slack-audit actions` for the list Slack knows)",
                        unknown.join(", ")
                    ),
                );
                exit::CONFIG
            }
        }
        Err(e) => {
            ui.log(Level::Error, &e);
            exit::TRANSIENT
        }
    }
}

/// Prints Slack's /actions or /schemas catalog (no token needed).
pub fn catalog(cfg: &Config, which: &str, ui: &mut Ui) -> i32 {
    match probe::catalog(cfg, which) {
        Ok(v) => {
            println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
            exit::OK
        }
        Err(e) => {
            ui.log(Level::Error, &e);
            exit::TRANSIENT
        }
    }
}
