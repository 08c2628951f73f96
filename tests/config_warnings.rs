//! The configuration warnings (tls_insecure, a token file other users can read) come from one
//! place (`Config::warnings`) and are logged exactly once by every command that uses the token.
//! No server is needed: the API URL is a closed loopback port, so the commands fail fast after
//! logging.

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

fn closed_port_url() -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    format!("http://127.0.0.1:{port}/audit/v1")
}

#[test]
fn each_warning_is_logged_once_per_command() {
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, "xoxp-warnings-test\n").unwrap();
    std::fs::set_permissions(&token_file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let url = closed_port_url();
    let state = dir.path().join("state");
    for cmd in [&["run", "--once"][..], &["check"], &["validate"]] {
        let out = Command::new(env!("CARGO_BIN_EXE_slack-audit"))
            .args(cmd)
            .args(["--api-url", &url, "--max-retries", "0", "--tls-insecure", "true"])
            .arg("--token-file")
            .arg(&token_file)
            .arg("--state-dir")
            .arg(&state)
            .env_remove("SLACK_AUDIT_TOKEN")
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.matches("NOT verified").count(), 1, "{cmd:?}: {err}");
        assert_eq!(err.matches("token_file can be read by other users").count(), 1, "{cmd:?}: {err}");
        assert!(!err.contains("xoxp-warnings-test"), "{cmd:?} printed the token: {err}");
    }
}
