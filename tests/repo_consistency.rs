//! The repository's promises that are easy to break by accident: docs and header in step with
//! the code.

use slack_audit::config::OPTIONS;

/// The README's option table lists every option of the option table, with its default.
#[test]
fn readme_documents_every_option() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    for o in OPTIONS {
        let row = readme.lines().find(|l| l.starts_with(&format!("| `{}` |", o.name)));
        let row = row.unwrap_or_else(|| panic!("README.md has no option row for `{}`", o.name));
        if !o.default.is_empty() {
            assert!(row.contains(o.default), "README row for `{}` lacks its default {:?}: {row}", o.name, o.default);
        }
    }
}

/// The header's version macro and ABI version match Cargo.toml and the library.
#[test]
fn header_versions_match_the_crate() {
    let h = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/include/slack_audit.h")).unwrap();
    assert!(
        h.contains(&format!("#define SLACK_AUDIT_VERSION \"{}\"", env!("CARGO_PKG_VERSION"))),
        "update cbindgen.toml after_includes"
    );
    assert!(h.contains(&format!("#define SLACK_AUDIT_ABI_VERSION {}", slack_audit::ffi::SLACK_AUDIT_ABI_VERSION)));
}
