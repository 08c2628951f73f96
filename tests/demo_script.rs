//! `make demo` is one of the two commands the README promises: it runs scripts/demo.sh with the
//! release binary. This runs the same script with the binary under test, so a change that breaks
//! the demo (a state file shape it reads, a flag it passes) fails `make test`, not a new user.

use std::process::Command;

#[test]
fn the_demo_collects_every_event_once_and_shows_the_checkpoint() {
    let root = env!("CARGO_MANIFEST_DIR");
    let out = Command::new("bash")
        .arg(format!("{root}/scripts/demo.sh"))
        .arg(env!("CARGO_BIN_EXE_slack-audit"))
        .current_dir(root)
        .env_remove("SLACK_AUDIT_TOKEN")
        .output()
        .expect("bash runs scripts/demo.sh");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the demo failed ({}):\n{stdout}\n{stderr}", out.status);
    for expected in [
        "simulator holds 30000 events; collected 30000: missing 0, duplicates 0, unknown 0",
        "second run printed 0 events",
        "| checkpoint ",
        "demo finished",
    ] {
        assert!(stdout.contains(expected), "the demo's output lacks {expected:?}:\n{stdout}\n{stderr}");
    }
}
