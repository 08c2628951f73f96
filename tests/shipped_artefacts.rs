//! What ships holds only product code: the C library (`target/release/libslack_audit.{a,so}`),
//! the Fluent Bit plugin and the installed header carry neither the simulator (the
//! `slack-audit-sim` crate, its HTTP server and its gzip encoder) nor the test export
//! `slack_audit_test_panic`, which only the C ABI tests' own build (`target/test-exports`) has.

mod cbuild;

use cbuild::{build_c, have, root};
use std::path::Path;
use std::process::Command;

/// Demangled names of every symbol `nm` lists (defined and undefined, local and global).
fn symbols(file: &Path) -> Vec<String> {
    assert!(have("nm"), "nm (binutils, installed with the C compiler) is missing: run scripts/install-deps.sh");
    assert!(file.exists(), "{} is missing: `make plugin c-tests` should have built it", file.display());
    let out = Command::new("nm").arg("-C").arg(file).output().expect("run nm");
    assert!(out.status.success(), "nm {} failed: {}", file.display(), String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).lines().map(str::to_string).collect()
}

/// Symbols of `file` naming any of `banned` (crate paths or exported names).
fn offending<'a>(syms: &'a [String], banned: &[&str]) -> Vec<&'a str> {
    syms.iter().map(String::as_str).filter(|s| banned.iter().any(|b| s.contains(b))).take(10).collect()
}

/// Test-only code that must stay out of what ships (`slack_audit::sim::` was the simulator's
/// path when it lived inside the library).
const BANNED: &[&str] = &["slack_audit_sim::", "slack_audit::sim::", "flate2::", "zlib_rs::", "slack_audit_test_panic"];

#[test]
fn shipped_library_and_plugin_hold_no_simulator_and_no_test_export() {
    build_c();
    let release = root().join("target/release");
    // The plugin as linked, before stripping: the shipped .so has no symbol table left to read.
    let plugin_full = root().join("fluent-bit-plugin/build/slack_audit.full.so");
    for file in [release.join("libslack_audit.a"), release.join("libslack_audit.so"), plugin_full] {
        let syms = symbols(&file);
        // The C ABI itself is there (the plugin no longer calls slack_audit_new: it starts through the
        // config builder, and --gc-sections drops what it does not reach), so an empty or
        // unreadable listing cannot pass.
        assert!(syms.iter().any(|s| s.ends_with(" slack_audit_collect")), "{}: no slack_audit_collect", file.display());
        let bad = offending(&syms, BANNED);
        assert!(bad.is_empty(), "{} holds test-only code: {bad:#?}", file.display());
    }
}

/// The check above can fail: the library the C ABI tests link (built with the `test-exports`
/// feature) does export the test hook, and the simulator crate's own objects are named as
/// `slack_audit_sim::`.
#[test]
fn the_test_build_does_hold_the_test_export() {
    build_c();
    let syms = symbols(&root().join("target/test-exports/release/libslack_audit.a"));
    assert!(syms.iter().any(|s| s.ends_with("T slack_audit_test_panic")), "no slack_audit_test_panic export");
    let bin = symbols(&root().join("target/release/slack-audit"));
    assert!(!offending(&bin, &["slack_audit_sim::"]).is_empty(), "the slack-audit command lost its `sim` subcommand");
}

/// The installed header declares no test export (cbindgen skips it: `cbindgen:ignore`).
#[test]
fn header_has_no_test_export() {
    let h = std::fs::read_to_string(root().join("include/slack_audit.h")).unwrap();
    assert!(h.contains("slack_audit_new("), "include/slack_audit.h does not look like the header");
    assert!(!h.contains("test_panic"), "include/slack_audit.h declares a test export");
}
