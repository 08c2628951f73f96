//! slack-audit: collects Slack's audit trail into log pipelines.
//!
//! One file per concern; see DESIGN.md in the README for the map.

pub mod encode;
pub mod sim;
