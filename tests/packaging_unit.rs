//! The shipped systemd unit (packaging/slack-audit.service): systemd accepts it offline, its
//! sandbox scores what docs/SYSTEMD.md says, its restart policy matches the CLI's real exit codes,
//! and its exact command line collects with the token handed over as a credential.

mod common;

use common::*;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

const UNIT: &str = "packaging/slack-audit.service";
const ENV_EXAMPLE: &str = "packaging/slack-audit.env.example";

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// systemd-analyze is installed by scripts/install-deps.sh (`make test` runs it first). Its
/// absence is a failure, not a skip: the unit would otherwise ship unchecked.
fn systemd_analyze(args: &[&str]) -> Output {
    Command::new("systemd-analyze").args(args).env("SYSTEMD_COLORS", "0").output().unwrap_or_else(|e| {
        panic!(
            "systemd-analyze cannot run ({e}): run `bash scripts/install-deps.sh` (installs Debian's systemd package)"
        )
    })
}

/// `Key=value` lines of the [Service]/[Unit]/[Install] sections; repeated keys keep every value.
fn directives(text: &str) -> HashMap<String, Vec<String>> {
    let mut map: HashMap<String, Vec<String>> = HashMap::new();
    for line in text.lines().map(str::trim) {
        if line.starts_with('#') || line.starts_with('[') || line.is_empty() {
            continue;
        }
        let (k, v) = line.split_once('=').unwrap_or_else(|| panic!("not Key=value: {line:?}"));
        map.entry(k.to_string()).or_default().push(v.to_string());
    }
    map
}

fn one<'a>(d: &'a HashMap<String, Vec<String>>, key: &str) -> &'a str {
    match d.get(key).map(Vec::as_slice) {
        Some([v]) => v,
        other => panic!("{key}= must be set exactly once in {UNIT}, found {other:?}"),
    }
}

/// Verifies `unit_text` inside a scratch root holding the built command at /usr/bin/slack-audit,
/// as the Debian package installs it. Returns (success, everything systemd-analyze said).
fn verify_in_root(unit_text: &str) -> (bool, String) {
    let root = tempfile::tempdir().unwrap();
    let bin = root.path().join("usr/bin/slack-audit");
    let unit = root.path().join("usr/lib/systemd/system/slack-audit.service");
    std::fs::create_dir_all(bin.parent().unwrap()).unwrap();
    std::fs::create_dir_all(unit.parent().unwrap()).unwrap();
    std::fs::copy(env!("CARGO_BIN_EXE_slack-audit"), &bin).unwrap();
    std::fs::write(&unit, unit_text).unwrap();
    // --root: ExecStart= is checked inside the scratch root; --recursive-errors=no: the scratch
    // root has no sysinit.target etc. to load; --man=no: man pages are the package's business.
    let out = systemd_analyze(&[
        "verify",
        "--man=no",
        "--recursive-errors=no",
        &format!("--root={}", root.path().display()),
        unit.to_str().unwrap(),
    ]);
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), said)
}

#[test]
fn unit_passes_systemd_analyze_verify_offline() {
    let text = std::fs::read_to_string(repo(UNIT)).unwrap();
    let (ok, said) = verify_in_root(&text);
    assert!(ok && said.trim().is_empty(), "systemd-analyze verify rejected {UNIT}:\n{said}");

    // The check can fail: a misspelt directive and a bad value are reported.
    let broken = text.replace("ProtectHome=yes", "ProtectHome=maybe\nProtectHomes=yes");
    let (ok, said) = verify_in_root(&broken);
    assert!(!ok || !said.trim().is_empty(), "a broken unit passed verify:\n{said}");
    assert!(said.contains("ProtectHomes"), "{said}");
}

/// docs/SYSTEMD.md quotes the offline `systemd-analyze security` exposure; it must stay true and low.
#[test]
fn unit_security_exposure_matches_the_systemd_guide() {
    let out = systemd_analyze(&["security", "--offline=yes", repo(UNIT).to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    let line = text
        .lines()
        .find(|l| l.contains("Overall exposure level for slack-audit.service"))
        .unwrap_or_else(|| panic!("no exposure line in:\n{text}"));
    let score: String = line.split(':').nth(1).unwrap().split_whitespace().next().unwrap().to_string();
    let value: f64 = score.parse().unwrap_or_else(|_| panic!("bad score in {line:?}"));
    assert!(value <= 2.0, "exposure {value} is above 2.0 (\"OK\" band): {line}");
    let guide = std::fs::read_to_string(repo("docs/SYSTEMD.md")).unwrap();
    assert!(
        guide.contains(&format!("exposure level **{score}**")),
        "docs/SYSTEMD.md must quote the current score as `exposure level **{score}**`"
    );
}

#[test]
fn unit_hardening_and_token_credential_are_in_place() {
    let d = directives(&std::fs::read_to_string(repo(UNIT)).unwrap());
    for (key, want) in [
        ("DynamicUser", "yes"),
        ("StateDirectory", "slack-audit"),
        ("LoadCredential", "token:/etc/slack-audit/token"),
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("NoNewPrivileges", "yes"),
        ("RestrictAddressFamilies", "AF_INET AF_INET6 AF_UNIX"),
        ("CapabilityBoundingSet", ""),
        ("MemoryDenyWriteExecute", "yes"),
        ("Restart", "on-failure"),
    ] {
        assert_eq!(one(&d, key), want, "{key}=");
    }
    assert!(d["Environment"].iter().any(|e| e == "SLACK_AUDIT_TOKEN_FILE=%d/token"), "{:?}", d["Environment"]);
    assert!(d["Environment"].iter().any(|e| e == "SLACK_AUDIT_METRICS_LISTEN=127.0.0.1:9464"));
    // The token never sits in the environment or on the command line.
    assert!(!one(&d, "ExecStart").contains("--token"));
    assert!(!d.values().flatten().any(|v| v.contains("SLACK_AUDIT_TOKEN=")));
}

/// RestartPreventExitStatus= lists exactly the codes the CLI really returns for "retrying cannot
/// help": 2 (bad configuration, no token) and 4 (Slack refused the token/scope/plan).
#[test]
fn unit_does_not_restart_on_the_cli_codes_that_retrying_cannot_fix() {
    let d = directives(&std::fs::read_to_string(repo(UNIT)).unwrap());
    let mut codes: Vec<i32> =
        one(&d, "RestartPreventExitStatus").split_whitespace().map(|c| c.parse().unwrap()).collect();
    codes.sort();
    assert_eq!(codes, vec![2, 4]);

    let bin = env!("CARGO_BIN_EXE_slack-audit");
    let dir = tempfile::tempdir().unwrap();
    let bad =
        Command::new(bin).args(["run", "--once", "--limit", "0"]).env("STATE_DIRECTORY", dir.path()).output().unwrap();
    assert_eq!(bad.status.code(), Some(2), "{}", String::from_utf8_lossy(&bad.stderr));

    let sim = sim(50, 0, |_| {});
    let refused = Command::new(bin)
        .args(["run", "--once", "--lag", "0", "--api-url", &sim.audit_url()])
        .env("STATE_DIRECTORY", dir.path())
        .env("SLACK_AUDIT_TOKEN", "xoxp-not-the-right-one")
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(4), "{}", String::from_utf8_lossy(&refused.stderr));
}

/// Runs the unit's ExecStart= with the environment systemd would give it (credential directory,
/// STATE_DIRECTORY, the unit's Environment=), against the simulator: it collects everything
/// into the state directory systemd manages, reading the token only from the credential.
#[test]
fn unit_command_line_collects_with_the_token_credential() {
    let d = directives(&std::fs::read_to_string(repo(UNIT)).unwrap());
    let sim = sim(300, 0, |_| {});
    let tmp = tempfile::tempdir().unwrap();
    let creds = tmp.path().join("credentials");
    let state = tmp.path().join("state");
    std::fs::create_dir_all(&creds).unwrap();
    std::fs::create_dir_all(&state).unwrap();
    std::fs::write(creds.join("token"), format!("{TOKEN}\n")).unwrap();

    let exec: Vec<String> = one(&d, "ExecStart").split_whitespace().map(String::from).collect();
    assert_eq!(exec[0], "/usr/bin/slack-audit");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_slack-audit"));
    cmd.args(&exec[1..]).args(["--once", "--lag", "0", "--api-url", &sim.audit_url()]);
    cmd.env_clear().env("PATH", std::env::var("PATH").unwrap_or_default());
    cmd.env("STATE_DIRECTORY", &state).env("CREDENTIALS_DIRECTORY", &creds);
    for assignment in &d["Environment"] {
        let (k, v) = assignment.split_once('=').unwrap();
        cmd.env(k, v.replace("%d", creds.to_str().unwrap()));
    }
    // As an env file would: a free port instead of 9464, which another process may hold here.
    cmd.env("SLACK_AUDIT_METRICS_LISTEN", "127.0.0.1:0");
    let child = cmd.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped()).spawn().unwrap();
    let pid = child.id() as i32;
    // Read both pipes while it runs (a full pipe would block it); kill it if it hangs.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || tx.send(child.wait_with_output()));
    let out = match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(out) => out.unwrap(),
        Err(_) => {
            // SAFETY: our own child, by pid.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            panic!("the unit's command did not finish within 60 s");
        }
    };
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    let lines: Vec<&str> = std::str::from_utf8(&out.stdout).unwrap().lines().collect();
    assert_eq!(lines.len(), 300, "{err}");
    // --log-format json: every stderr line is a JSON object (the journal gets structured lines).
    assert!(err.contains("metrics at http://127.0.0.1:"), "the unit enables metrics: {err}");
    for l in err.lines() {
        assert!(serde_json::from_str::<serde_json::Value>(l).is_ok(), "stderr line is not JSON: {l}");
    }
    let files: Vec<String> =
        std::fs::read_dir(&state).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert!(files.iter().any(|f| f.ends_with(".json")), "no checkpoint in $STATE_DIRECTORY: {files:?}");
    for f in &files {
        let text = std::fs::read_to_string(state.join(f)).unwrap_or_default();
        assert!(!text.contains(TOKEN), "{f} holds the token");
    }
}

/// Every variable the example env file mentions is a real option (or `run` flag), and the
/// file with every line uncommented is a valid configuration.
#[test]
fn example_env_file_names_only_real_options() {
    let text = std::fs::read_to_string(repo(ENV_EXAMPLE)).unwrap();
    let run_flags = ["metrics_listen"];
    let mut vars = Vec::new();
    for line in text.lines() {
        let Some(assignment) = line.strip_prefix('#').and_then(|l| l.strip_prefix("SLACK_AUDIT_")) else {
            continue;
        };
        let (name, value) = assignment.split_once('=').unwrap();
        let option = name.to_ascii_lowercase();
        assert!(
            slack_audit::config::OPTIONS.iter().any(|o| o.name == option) || run_flags.contains(&option.as_str()),
            "{ENV_EXAMPLE}: SLACK_AUDIT_{name} is not an option"
        );
        vars.push((format!("SLACK_AUDIT_{name}"), value.to_string()));
    }
    assert!(vars.len() >= 5, "{vars:?}");
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_slack-audit"))
        .arg("validate")
        .envs(vars.iter().filter(|(k, _)| k != "SLACK_AUDIT_METRICS_LISTEN").cloned())
        .env("STATE_DIRECTORY", dir.path())
        .env("SLACK_AUDIT_TOKEN", TOKEN)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}
