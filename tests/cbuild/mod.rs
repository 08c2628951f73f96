//! Helpers shared by the tests that build and run C programs (tests/c_abi.rs,
//! tests/fluent_bit_plugin.rs).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn c_build() -> PathBuf {
    root().join("tests/c/build")
}

/// Runs `make -s plugin c-tests` once per test process (it builds the static library with
/// `cargo build --release --lib` first), so the test is self-sufficient after `cargo test`.
pub fn build_c() {
    static BUILT: OnceLock<Result<(), String>> = OnceLock::new();
    let r = BUILT.get_or_init(|| {
        let mut make = Command::new("make");
        make.args(["-s", "plugin", "c-tests"]).current_dir(root());
        // The variables cargo sets for a running test (CARGO_MANIFEST_DIR, CARGO_PKG_*, …) would
        // look like a changed environment to build scripts and rebuild half the dependencies.
        for (key, _) in std::env::vars_os() {
            let key = key.to_string_lossy().into_owned();
            let keep = matches!(key.as_str(), "CARGO_HOME" | "CARGO_TARGET_DIR" | "CARGO_BUILD_JOBS");
            if (key.starts_with("CARGO_") && !keep) || key == "OUT_DIR" {
                make.env_remove(&key);
            }
        }
        let out = make.output().map_err(|e| format!("cannot run make: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "`make -s plugin c-tests` failed ({}):\n{}\n{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    });
    if let Err(e) = r {
        panic!("{e}");
    }
}

pub fn have(tool: &str) -> bool {
    Command::new("sh").arg("-c").arg(format!("command -v {tool} >/dev/null 2>&1")).status().is_ok_and(|s| s.success())
}

/// valgrind with the settings of every C test: any error or definite leak fails the run.
pub fn valgrind(program: &Path) -> Command {
    let mut c = Command::new("valgrind");
    c.args([
        "--quiet",
        "--error-exitcode=99",
        "--leak-check=full",
        "--errors-for-leak-kinds=definite",
        "--show-leak-kinds=definite",
        "--track-origins=no",
    ])
    .arg(program);
    c
}

/// ASan/UBSan settings: leaks checked (LeakSanitizer, no suppressions needed), any finding is
/// fatal and makes the program exit 98.
pub fn sanitized(program: &Path) -> Command {
    let mut c = Command::new(program);
    c.env("ASAN_OPTIONS", "detect_leaks=1:halt_on_error=1:abort_on_error=0:exitcode=98")
        .env("UBSAN_OPTIONS", "halt_on_error=1:print_stacktrace=1");
    c
}

/// Output as text, for assertion messages.
pub fn describe(o: &Output) -> String {
    format!(
        "status {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}
