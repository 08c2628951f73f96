//! The repository's promises that are easy to break by accident: docs and header in step with
//! the code.

use slack_audit::config::{splice_options_doc, OPTIONS, OPTIONS_DOC_BEGIN, OPTIONS_DOC_END};

/// The option tables of README.md and fluent-bit-plugin/README.md are the ones generated from
/// config::OPTIONS (`make options-doc` writes them).
#[test]
fn readme_option_tables_are_generated_from_the_option_table() {
    for file in ["README.md", "fluent-bit-plugin/README.md"] {
        let text = std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(file)).unwrap();
        let spliced = splice_options_doc(&text)
            .unwrap_or_else(|| panic!("{file} lacks the {OPTIONS_DOC_BEGIN} ... {OPTIONS_DOC_END} markers"));
        assert!(spliced == text, "{file}'s option table is out of date: run `make options-doc` and commit it");
        for o in OPTIONS {
            assert!(text.contains(&format!("| `{}` | {} |", o.name, o.accepts())), "{file}: no row for `{}`", o.name);
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
