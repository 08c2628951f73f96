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

// ---------------------------------------------------------------------------------------------
// Every C export goes through the panic boundary.
//
// An export is a `#[no_mangle]` function or a `pub extern "C" fn` anywhere in src/. Its whole
// body must be one `ffi_boundary!(…)` (src/ffi/boundary.rs): code before it runs outside the
// boundary, and a bare `catch_unwind` forgets the error buffer or the poisoning. The macro sits
// inside the body because cbindgen does not expand macros, so this check stands in for a macro
// around the function.

/// `src` with the contents of comments, strings and char literals replaced by spaces (same
/// length, newlines kept), so braces and `fn` inside them do not count.
fn code_only(src: &str) -> String {
    let c: Vec<char> = src.chars().collect();
    let mut out: Vec<char> = c.clone();
    let blank = |out: &mut Vec<char>, from: usize, to: usize| {
        for ch in &mut out[from..to] {
            if *ch != '\n' {
                *ch = ' ';
            }
        }
    };
    let ident = |ch: char| ch.is_alphanumeric() || ch == '_';
    let mut i = 0;
    while i < c.len() {
        let next = c.get(i + 1).copied();
        if c[i] == '/' && next == Some('/') {
            let end = (i..c.len()).find(|&j| c[j] == '\n').unwrap_or(c.len());
            blank(&mut out, i, end);
            i = end;
        } else if c[i] == '/' && next == Some('*') {
            let (mut j, mut depth) = (i + 2, 1);
            while j < c.len() && depth > 0 {
                if c[j] == '/' && c.get(j + 1) == Some(&'*') {
                    depth += 1;
                    j += 1;
                } else if c[j] == '*' && c.get(j + 1) == Some(&'/') {
                    depth -= 1;
                    j += 1;
                }
                j += 1;
            }
            blank(&mut out, i, j);
            i = j;
        } else if c[i] == 'r' && (i == 0 || !ident(c[i - 1]) || (c[i - 1] == 'b' && (i < 2 || !ident(c[i - 2])))) {
            // Raw string r"…", r#"…"#, br#"…"#.
            let hashes = (i + 1..c.len()).take_while(|&j| c[j] == '#').count();
            if c.get(i + 1 + hashes) != Some(&'"') {
                i += 1;
                continue;
            }
            let body = i + 2 + hashes;
            let close: String = std::iter::once('"').chain(std::iter::repeat_n('#', hashes)).collect();
            let rest: String = c[body..].iter().collect();
            let end = body + rest.find(&close).map_or(c.len() - body, |k| rest[..k].chars().count());
            blank(&mut out, body, end);
            i = end + 1 + hashes;
        } else if c[i] == '"' {
            let mut j = i + 1;
            while j < c.len() && c[j] != '"' {
                j += if c[j] == '\\' { 2 } else { 1 };
            }
            blank(&mut out, i + 1, j.min(c.len()));
            i = j + 1;
        } else if c[i] == '\'' {
            // A char literal ('x', '\n', '\u{1F600}'), not a lifetime ('a).
            let end = if next == Some('\\') {
                (i + 3..c.len()).find(|&j| c[j] == '\'')
            } else if c.get(i + 2) == Some(&'\'') {
                Some(i + 2)
            } else {
                None
            };
            match end {
                Some(e) => {
                    blank(&mut out, i + 1, e);
                    i = e + 1;
                }
                None => i += 1,
            }
        } else {
            i += 1;
        }
    }
    out.into_iter().collect()
}

/// The index of the bracket closing the one at `open` (in code without comments or strings).
fn closing(code: &[char], open: usize) -> Option<usize> {
    let (o, c) = (
        code[open],
        match code[open] {
            '(' => ')',
            '[' => ']',
            _ => '}',
        },
    );
    let mut depth = 0;
    for (j, &ch) in code.iter().enumerate().skip(open) {
        if ch == o {
            depth += 1;
        } else if ch == c {
            depth -= 1;
            if depth == 0 {
                return Some(j);
            }
        }
    }
    None
}

/// Every export in `src` as (name, whether its whole body is one `ffi_boundary!(…)`).
fn exports(src: &str) -> Vec<(String, bool)> {
    let code: Vec<char> = code_only(src).chars().collect();
    let text: String = code.iter().collect();
    let words = |s: &str| s.split_whitespace().map(str::to_owned).collect::<Vec<_>>();
    let mut found = Vec::new();
    let mut at = 0;
    while let Some(k) = text[at..].find("fn ").map(|k| at + k) {
        at = k + 3;
        // Only a whole word `fn`, with the name after it.
        if k > 0 && text[..k].chars().next_back().is_some_and(|ch| ch.is_alphanumeric() || ch == '_') {
            continue;
        }
        let name: String =
            text[k + 3..].trim_start().chars().take_while(|ch| ch.is_alphanumeric() || *ch == '_').collect();
        // What precedes `fn` back to the previous item: attributes and qualifiers.
        let item_start = text[..k].rfind(['}', ';']).map_or(0, |p| p + 1);
        let before = &text[item_start..k];
        let qualifiers = words(before.rsplit(']').next().unwrap_or(""));
        let no_mangle = before.contains("no_mangle") || before.contains("export_name");
        let extern_c = qualifiers.iter().any(|w| w == "extern");
        let public = qualifiers.first().is_some_and(|w| w.starts_with("pub"));
        if name.is_empty() || !(no_mangle || extern_c && public) {
            continue;
        }
        let ci = text[..k].chars().count() + 3;
        let Some(open_paren) = (ci..code.len()).find(|&j| code[j] == '(') else { continue };
        let Some(close_paren) = closing(&code, open_paren) else { continue };
        let Some(open) = (close_paren..code.len()).find(|&j| code[j] == '{' || code[j] == ';') else { continue };
        if code[open] == ';' {
            continue; // a declaration (`extern "C" { fn … }`), not a definition
        }
        let Some(close) = closing(&code, open) else { continue };
        let body: String = code[open + 1..close].iter().collect();
        let body = body.trim();
        let guarded = body.strip_prefix("ffi_boundary!").map(str::trim_start).is_some_and(|rest| {
            let rest: Vec<char> = rest.chars().collect();
            rest.first() == Some(&'(')
                && closing(&rest, 0).is_some_and(|end| rest[end + 1..].iter().all(|ch| ch.is_whitespace()))
        });
        found.push((name, guarded));
    }
    found
}

fn rust_files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// Every export in src/ is one `ffi_boundary!(…)`, and the scan sees every function of the
/// header (so a scanner that found nothing cannot pass).
#[test]
fn every_export_goes_through_the_panic_boundary() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    let mut seen = Vec::new();
    let mut unguarded = Vec::new();
    for f in &files {
        for (name, guarded) in exports(&std::fs::read_to_string(f).unwrap()) {
            if !guarded {
                unguarded.push(format!("{} in {}", name, f.strip_prefix(root).unwrap().display()));
            }
            seen.push(name);
        }
    }
    assert!(
        unguarded.is_empty(),
        "these C exports do not go through the panic boundary: {unguarded:?}. Make each one's whole body \
         `ffi_boundary!(…)` (see src/ffi/boundary.rs for the forms: handle, status, value)"
    );
    let header = std::fs::read_to_string(root.join("include/slack_audit.h")).unwrap();
    let declared: Vec<&str> = header
        .lines()
        .filter(|l| !l.starts_with("//") && !l.starts_with('#') && l.contains("slack_audit_") && l.contains('('))
        .filter_map(|l| l.split('(').next()?.split([' ', '*']).next_back())
        .collect();
    assert!(declared.len() >= 16, "the header parse found only {declared:?}");
    for name in declared {
        assert!(seen.iter().any(|s| s == name), "{name} is in the header but the scan of src/ did not find it");
    }
}

/// The scan itself: it flags what it must and is not fooled by braces in strings or comments.
#[test]
fn the_boundary_scan_tells_guarded_from_unguarded_exports() {
    let src = r##"
        /// Doc with a brace { and fn fake_export() {}
        #[no_mangle]
        pub extern "C" fn guarded(x: *const u8) -> usize {
            ffi_boundary!(value, || { let s = "}{"; let c = '}'; s.len() + x as usize })
        }
        #[no_mangle]
        pub extern "C" fn bare(h: *mut u8) -> i32 {
            std::panic::catch_unwind(|| 1).unwrap_or(0)
        }
        #[no_mangle]
        pub extern "C" fn code_before(h: *mut u8) -> i32 {
            let n = r#"}"#.len() as i32;
            ffi_boundary!(value, || n)
        }
        #[no_mangle]
        pub extern "C" fn code_after(h: *mut u8) {
            ffi_boundary!(value, || ());
            drop(h);
        }
        pub extern "C" fn public_without_no_mangle() {}
        extern "C" fn signal_handler(_: i32) {}
        fn helper<'a>(s: &'a str) -> &'a str { s }
        extern "C" { fn declared_elsewhere(); }
    "##;
    let got = exports(src);
    let want: Vec<(String, bool)> = [
        ("guarded", true),
        ("bare", false),
        ("code_before", false),
        ("code_after", false),
        ("public_without_no_mangle", false),
    ]
    .iter()
    .map(|(n, g)| (n.to_string(), *g))
    .collect();
    assert_eq!(got, want);
}

/// Where `src` decides something by source outside the table of sources: `(line, what)` for each
/// pattern on a variant of `Source` or `SourceState` (a `match` arm, `matches!`, `if let`,
/// `let … else`) and each match arm on a source's name as a string. Code after `#[cfg(test)]`
/// (the file's unit tests) is not looked at: a test may well pick one source.
fn source_dispatch(src: &str) -> Vec<(usize, String)> {
    let src = src.split("#[cfg(test)]").next().unwrap_or("");
    let code: Vec<char> = code_only(src).chars().collect();
    let orig: Vec<char> = src.chars().collect();
    let line = |at: usize| code[..at].iter().filter(|&&c| c == '\n').count() + 1;
    let ident = |ch: char| ch.is_alphanumeric() || ch == '_';
    let text: String = code.iter().collect();
    let mut found = Vec::new();
    for (k, _) in text.match_indices("::") {
        // `Source::X` or `SourceState::X`, the whole path segment before `::`.
        let at = text[..k].chars().count();
        let start = (0..at).rev().take_while(|&j| ident(code[j])).last().unwrap_or(at);
        let ty: String = code[start..at].iter().collect();
        if ty != "Source" && ty != "SourceState" || start > 0 && code[start - 1] == ':' {
            continue;
        }
        let mut end = at + 2;
        while end < code.len() && ident(code[end]) {
            end += 1;
        }
        let variant: String = code[at + 2..end].iter().collect();
        if !variant.starts_with(|c: char| c.is_ascii_uppercase()) || variant.chars().all(|c| c.is_ascii_uppercase()) {
            continue; // Source::named, Source::ALL: not a variant
        }
        let mut after = end;
        while after < code.len() && code[after].is_whitespace() {
            after += 1;
        }
        if after < code.len() && (code[after] == '(' || code[after] == '{') {
            after = closing(&code, after).map_or(code.len(), |c| c + 1);
            while after < code.len() && code[after].is_whitespace() {
                after += 1;
            }
        }
        let rest: String = code[after.min(code.len())..].iter().take(3).collect();
        let before: String = code[..start].iter().collect::<String>().trim_end().to_string();
        let arm = rest.starts_with("=>") || rest.starts_with('|') && !rest.starts_with("||") || rest.starts_with("if ");
        let in_matches = before
            .rfind("matches!(")
            .is_some_and(|m| closing(&code, before[..m].chars().count() + 8).is_some_and(|c| c > start));
        let in_let = before.ends_with("let")
            || before.ends_with("let (")
            || rest.starts_with('=') && !rest.starts_with("==") && !rest.starts_with("=>");
        if arm || in_matches || in_let {
            found.push((line(start), format!("{ty}::{variant}")));
        }
    }
    for (k, _) in text.match_indices("=>") {
        let at = text[..k].chars().count();
        let mut j = at;
        while j > 0 && code[j - 1].is_whitespace() {
            j -= 1;
        }
        if j == 0 || code[j - 1] != '"' {
            continue;
        }
        let open = (0..j - 1).rev().find(|&i| code[i] == '"').unwrap_or(0);
        let literal: String = orig[open + 1..j - 1].iter().collect();
        if slack_audit::config::Source::NAMES.contains(&literal.as_str()) {
            found.push((line(at), format!("\"{literal}\" =>")));
        }
    }
    found
}

/// "A fourth source is one new module plus one table row" holds for the whole crate: no code
/// outside src/source/ decides by source; it asks the source (`Source::name`, `c_name`,
/// `ecs_dataset`, `SourceKind`). The one exception is the schema-1 loader of state files: that
/// format is frozen and knew exactly the three first sources.
#[test]
fn no_code_outside_src_source_matches_on_a_source() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    let allowed: &[(&str, &str)] =
        &[("src/store/state.rs", "\"access\" =>"), ("src/store/state.rs", "\"integration\" =>")];
    let (mut outside, mut inside) = (Vec::new(), 0);
    for f in &files {
        let rel = f.strip_prefix(root).unwrap().display().to_string();
        let found = source_dispatch(&std::fs::read_to_string(f).unwrap());
        // The table of sources itself sits in base/source_id.rs, below every user of `Source`.
        if rel.starts_with("src/source/") || rel == "src/base/source_id.rs" {
            inside += found.len();
            continue;
        }
        for (line, what) in found {
            if !allowed.iter().any(|(file, w)| *file == rel && *w == what) {
                outside.push(format!("{rel}:{line}: {what}"));
            }
        }
    }
    assert!(
        outside.is_empty(),
        "code outside src/source/ decides by source: {outside:?}. Ask the source instead (a method of \
         `Source` made from the table in src/base/source_id.rs, or of its `SourceKind`), so that a new \
         source stays one module plus one table row"
    );
    // The table's own code is full of them: a scan that finds none there is blind.
    assert!(inside >= 3, "the scan found only {inside} in src/source/");
}

/// The scan itself flags each form and not a source merely named or compared.
#[test]
fn the_source_dispatch_scan_finds_each_form() {
    let src = r#"
        fn a(s: Source) -> &'static str {
            match s {
                Source::Audit => "a", // Source::Access => in a comment
                Source::Access | Source::Integration => "b",
            }
        }
        fn b(s: &SourceState) -> bool { matches!(s, SourceState::Audit(_)) }
        fn c(s: &SourceState) { if let SourceState::Access(x) = s {} }
        fn d(s: &SourceState) { let SourceState::Integration(w) = s else { return }; }
        fn e(n: &str) -> u8 { match n { "audit" => 1, "other" => 2, _ => 3 } }
        fn f() -> Vec<Source> { let s = "Source::Audit =>"; vec![Source::Audit, Source::named("x").unwrap()] }
        fn g(s: Source) -> bool { s == Source::Audit || Source::ALL.contains(&s) }
        #[cfg(test)]
        mod tests { fn t(s: Source) { match s { Source::Audit => {}, _ => {} } } }
    "#;
    let got: Vec<String> = source_dispatch(src).into_iter().map(|(l, w)| format!("{l}:{w}")).collect();
    assert_eq!(
        got,
        [
            "4:Source::Audit",
            "5:Source::Access",
            "5:Source::Integration",
            "8:SourceState::Audit",
            "9:SourceState::Access",
            "10:SourceState::Integration",
            "11:\"audit\" =>"
        ]
    );
}

// ---------------------------------------------------------------------------------------------
// The layers of src/ (issue 22): a module imports only from its own layer or lower ones, and no
// import cycle runs between modules.
//
// The library's top-level modules, lowest first. A folder is a layer; its mod.rs says what it
// holds. The command (src/main.rs, src/cli/) is a crate of its own over the Rust API.
const LAYERS: &[&str] = &["base", "error", "config", "transport", "format", "source", "store", "engine", "ffi"];

/// A file's module path: `src/source/audit/wire.rs` is `source::audit::wire`, a `mod.rs` its
/// folder, `src/lib.rs` the root.
fn module_path(rel: &str) -> Vec<String> {
    let rel = rel.strip_prefix("src/").unwrap_or(rel).trim_end_matches(".rs");
    let mut parts: Vec<String> = rel.split('/').map(str::to_owned).collect();
    if matches!(parts.last().map(String::as_str), Some("mod" | "lib")) {
        parts.pop();
    }
    parts
}

/// The modules that `src` (the code of module `me`, tests excluded) names through `crate::…`
/// or `super::…` paths, as absolute paths cut to the longest one in `known`.
fn imports(src: &str, me: &[String], known: &std::collections::BTreeSet<Vec<String>>) -> Vec<Vec<String>> {
    let mut code = code_only(src);
    // The unit tests may reach anywhere.
    if let Some(t) = code.find("#[cfg(test)]\nmod tests") {
        code.truncate(t);
    }
    let c: Vec<char> = code.chars().collect();
    let ident = |ch: char| ch.is_alphanumeric() || ch == '_';
    // Reads `a::b::c` (or a `{…}` group of such) from `at`, appending full paths to `out`.
    fn read(c: &[char], mut at: usize, base: Vec<String>, out: &mut Vec<Vec<String>>) {
        let ident = |ch: char| ch.is_alphanumeric() || ch == '_';
        let mut path = base;
        loop {
            while at < c.len() && c[at].is_whitespace() {
                at += 1;
            }
            if at < c.len() && c[at] == '{' {
                let Some(end) = closing(c, at) else { return };
                let (mut depth, mut start) = (0, at + 1);
                for k in at + 1..=end {
                    match c[k] {
                        '{' => depth += 1,
                        '}' if depth > 0 => depth -= 1,
                        ',' | '}' if depth == 0 => {
                            read(c, start, path.clone(), out);
                            start = k + 1;
                        }
                        _ => {}
                    }
                }
                return;
            }
            let s = at;
            while at < c.len() && ident(c[at]) {
                at += 1;
            }
            if s == at {
                break;
            }
            path.push(c[s..at].iter().collect());
            if c.get(at) == Some(&':') && c.get(at + 1) == Some(&':') {
                at += 2;
            } else {
                break;
            }
        }
        out.push(path);
    }
    let mut paths = Vec::new();
    let mut i = 0;
    while i < c.len() {
        // `$crate::…` in a macro_rules body names a path where the macro is used, not here.
        let word_start = i == 0 || !(ident(c[i - 1]) || c[i - 1] == '$');
        let rest: String = c[i..(i + 7).min(c.len())].iter().collect();
        if word_start && rest == "crate::" {
            read(&c, i + 7, Vec::new(), &mut paths);
            i += 7;
        } else if word_start && rest.starts_with("super::") {
            let mut base = me.to_vec();
            let mut j = i;
            while c[j..(j + 7).min(c.len())].iter().collect::<String>() == "super::" {
                base.pop();
                j += 7;
            }
            read(&c, j, base, &mut paths);
            i = j;
        } else {
            i += 1;
        }
    }
    let mut found: Vec<Vec<String>> = paths
        .into_iter()
        .filter_map(|p| (0..=p.len()).rev().map(|n| p[..n].to_vec()).find(|m| known.contains(m)))
        .filter(|m| !m.is_empty() && m.as_slice() != me)
        .collect();
    found.sort();
    found.dedup();
    found
}

/// A cycle in `edges` (a path that ends where it starts), if there is one.
fn find_cycle(edges: &std::collections::BTreeMap<String, std::collections::BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        n: &str,
        edges: &std::collections::BTreeMap<String, std::collections::BTreeSet<String>>,
        state: &mut std::collections::BTreeMap<String, u8>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        match state.get(n) {
            Some(2) => return None,
            Some(1) => {
                let from = stack.iter().position(|s| s == n).unwrap();
                let mut cycle = stack[from..].to_vec();
                cycle.push(n.to_owned());
                return Some(cycle);
            }
            _ => {}
        }
        state.insert(n.to_owned(), 1);
        stack.push(n.to_owned());
        for m in edges.get(n).into_iter().flatten() {
            if let Some(c) = visit(m, edges, state, stack) {
                return Some(c);
            }
        }
        stack.pop();
        state.insert(n.to_owned(), 2);
        None
    }
    let mut state = std::collections::BTreeMap::new();
    edges.keys().find_map(|n| visit(n, edges, &mut state, &mut Vec::new()))
}

type Graph = std::collections::BTreeMap<String, std::collections::BTreeSet<String>>;

/// What the layer check finds in `files` (path, text): imports against the layer order,
/// cycles between sibling modules, sources that import each other; and the graphs it read (per
/// parent module, between its children).
fn layer_violations(files: &[(String, String)]) -> (Vec<String>, std::collections::BTreeMap<String, Graph>) {
    let known: std::collections::BTreeSet<Vec<String>> = files.iter().map(|(rel, _)| module_path(rel)).collect();
    let sources: Vec<String> = files
        .iter()
        .filter(|(rel, text)| {
            rel.starts_with("src/source/") && rel.ends_with("/mod.rs") && text.contains("impl SourceKind for")
        })
        .map(|(rel, _)| module_path(rel)[1].clone())
        .collect();
    let rank = |m: &[String]| LAYERS.iter().position(|l| *l == m[0]);
    let mut bad = Vec::new();
    // Per parent module, the imports between its children (a child's imports of its own
    // ancestors, its folder's mod.rs, are the folder's interface and do not count).
    let mut siblings: std::collections::BTreeMap<String, Graph> = std::collections::BTreeMap::new();
    for (rel, text) in files {
        let me = module_path(rel);
        if me.is_empty() {
            continue;
        }
        if rank(&me).is_none() {
            bad.push(format!(
                "{rel}: top-level module `{}` is in no layer (LAYERS in tests/repo_consistency.rs)",
                me[0]
            ));
            continue;
        }
        for to in imports(text, &me, &known) {
            let common = me.iter().zip(&to).take_while(|(a, b)| a == b).count();
            if common == me.len() || common == to.len() {
                continue; // its own child or ancestor
            }
            if common == 0 && rank(&to) > rank(&me) {
                bad.push(format!("{rel}: `{}` (a lower layer) imports `{}`", me.join("::"), to.join("::")));
            }
            if me[0] == "source" && common == 1 && sources.contains(&me[1]) && sources.contains(&to[1]) {
                bad.push(format!("{rel}: source `{}` imports source `{}`", me[1], to[1]));
            }
            let parent = if common == 0 { "crate".to_owned() } else { me[..common].join("::") };
            siblings.entry(parent).or_default().entry(me[common].clone()).or_default().insert(to[common].clone());
        }
    }
    for (parent, g) in &siblings {
        if let Some(c) = find_cycle(g) {
            bad.push(format!("import cycle in `{parent}`: {}", c.join(" -> ")));
        }
    }
    (bad, siblings)
}

/// src/ reads as its layers: no module imports a higher layer, no import cycle between the
/// children of any module (layers, the parts of a layer, the files of a source), and no source
/// imports another. Run with `--nocapture` to see the graphs.
#[test]
fn src_layers_import_downward_only_and_without_cycles() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut paths = Vec::new();
    rust_files(&root.join("src"), &mut paths);
    let files: Vec<(String, String)> = paths
        .iter()
        .map(|p| (p.strip_prefix(root).unwrap().display().to_string(), std::fs::read_to_string(p).unwrap()))
        .filter(|(rel, _)| rel != "src/main.rs" && !rel.starts_with("src/cli/"))
        .collect();
    let (bad, graphs) = layer_violations(&files);
    for (parent, g) in &graphs {
        println!("{parent}:");
        for (from, to) in g {
            println!("  {from} -> {}", to.iter().cloned().collect::<Vec<_>>().join(", "));
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
    // A scan that sees no import is blind.
    let layers = &graphs["crate"];
    assert!(layers.get("engine").is_some_and(|to| to.contains("source") && to.contains("transport")), "{layers:?}");
    assert!(graphs.get("source").is_some_and(|g| g.len() >= 4), "{graphs:?}");
}

/// The layer check flags each kind of fault, and reads grouped, `super::` and inline paths.
#[test]
fn the_layer_check_finds_upward_imports_cycles_and_sources_that_import_each_other() {
    let f = |files: &[(&str, &str)]| {
        let files: Vec<(String, String)> = files.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect();
        layer_violations(&files).0
    };
    let src = |s: &str| s.to_owned();
    let ok = f(&[
        ("src/base/mod.rs", "pub mod fnv;"),
        ("src/base/fnv.rs", "pub fn h() {}"),
        ("src/config.rs", "use crate::{base::fnv, error::Error};"),
        ("src/error.rs", "// use crate::engine;\nconst S: &str = \"crate::engine\";\nmacro_rules! m { () => { $crate::engine::x() } }"),
        ("src/engine/mod.rs", "pub mod a; pub mod b;"),
        ("src/engine/a.rs", "use super::b::X; fn f() { crate::config::g() }"),
        ("src/engine/b.rs", "use super::super::base::fnv;\n#[cfg(test)]\nmod tests { use crate::engine::a; }"),
    ]);
    assert!(ok.is_empty(), "{ok:?}");
    let up = f(&[("src/config.rs", "fn f() { crate::engine::run() }"), ("src/engine/mod.rs", "")]);
    assert!(up.len() == 1 && up[0].contains("imports `engine`"), "{up:?}");
    let grouped = f(&[("src/error.rs", "use crate::{config::{A, B}};"), ("src/config.rs", "")]);
    assert!(grouped.len() == 1 && grouped[0].contains("imports `config`"), "{grouped:?}");
    let cycle = f(&[
        ("src/engine/mod.rs", ""),
        ("src/engine/a.rs", &src("use super::b::X;")),
        ("src/engine/b.rs", "use crate::engine::a::Y;"),
    ]);
    assert!(cycle.len() == 1 && cycle[0].contains("cycle in `engine`"), "{cycle:?}");
    let sources = f(&[
        ("src/source/mod.rs", "pub mod a; pub mod b;"),
        ("src/source/a/mod.rs", "impl SourceKind for A {} use crate::source::b::wire::W;"),
        ("src/source/b/mod.rs", "impl SourceKind for B {}"),
        ("src/source/b/wire.rs", ""),
    ]);
    assert!(sources.len() == 1 && sources[0].contains("source `a` imports source `b`"), "{sources:?}");
    let stray = f(&[("src/misc.rs", "")]);
    assert!(stray.len() == 1 && stray[0].contains("in no layer"), "{stray:?}");
}

// ---------------------------------------------------------------------------------------------
// The README is a front door to docs/: every relative link of the Markdown files resolves.

/// The relative links of a Markdown text: `[text](target)` with no scheme, as (path, anchor).
fn md_links(text: &str) -> Vec<(String, Option<String>)> {
    let mut out = Vec::new();
    let mut in_code = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            in_code = !in_code;
            continue;
        }
        if in_code {
            continue;
        }
        let mut rest = line;
        while let Some(k) = rest.find("](") {
            let tail = &rest[k + 2..];
            let Some(end) = tail.find(')') else { break };
            let target = &tail[..end];
            rest = &tail[end..];
            if target.contains("://") || target.starts_with("mailto:") || target.contains(' ') {
                continue;
            }
            let (path, anchor) = match target.split_once('#') {
                Some((p, a)) => (p.to_owned(), Some(a.to_owned())),
                None => (target.to_owned(), None),
            };
            out.push((path, anchor));
        }
    }
    out
}

/// GitHub's anchor of a Markdown heading: lower case, punctuation dropped, spaces to `-`.
fn anchor_of(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-' || *c == '_')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

#[test]
fn markdown_links_resolve_and_the_readme_links_every_guide() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = vec![root.join("README.md"), root.join("fluent-bit-plugin/README.md")];
    let mut guides = Vec::new();
    for e in std::fs::read_dir(root.join("docs")).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "md") {
            guides.push(p.file_name().unwrap().to_string_lossy().into_owned());
            files.push(p);
        }
    }
    let mut broken = Vec::new();
    let mut checked = 0;
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        for (path, anchor) in md_links(&text) {
            let target = if path.is_empty() { file.clone() } else { file.parent().unwrap().join(&path) };
            checked += 1;
            if !target.exists() {
                broken.push(format!("{}: {path} does not exist", file.display()));
                continue;
            }
            if let (Some(a), Some("md")) = (&anchor, target.extension().and_then(|x| x.to_str())) {
                let body = std::fs::read_to_string(&target).unwrap();
                let found = body.lines().any(|l| l.starts_with('#') && anchor_of(l.trim_start_matches('#')) == *a);
                if !found {
                    broken.push(format!("{}: {path}#{a}: no such heading", file.display()));
                }
            }
        }
    }
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
    assert!(checked >= 30, "only {checked} links checked: the scan is blind");
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    for g in &guides {
        assert!(readme.contains(&format!("](docs/{g})")), "README.md does not link docs/{g}");
    }
    // A front door, not the whole house: the rest belongs in docs/.
    let lines = readme.lines().count();
    assert!(lines <= 200, "README.md has {lines} lines: move sections to docs/ and link them");
}

#[test]
fn the_link_scan_finds_links_and_anchors() {
    let links =
        md_links("see [a](docs/A.md) and [b](../x.rs#L3), [web](https://x.y/z)\n```\n[c](no.md)\n```\n[d](#top)");
    assert_eq!(
        links,
        vec![
            ("docs/A.md".to_owned(), None),
            ("../x.rs".to_owned(), Some("L3".to_owned())),
            (String::new(), Some("top".to_owned()))
        ]
    );
    assert_eq!(anchor_of(" Durability: what is guaranteed"), "durability-what-is-guaranteed");
    assert_eq!(anchor_of("Side by side (`make bench-peers`)"), "side-by-side-make-bench-peers");
}

/// Issue 22's proof that a source is one folder plus one table row: outside
/// src/source/<name>/, no code names the access or integration source, its state or its module,
/// except its row in the table (src/base/source_id.rs) and the frozen schema-1 loader of state
/// files (src/store/state.rs, which knew exactly the first three sources). Unit tests aside.
#[test]
fn the_access_and_integration_sources_are_their_folder_plus_one_table_row() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    for (name, title) in [("access", "Access"), ("integration", "Integration")] {
        let tokens = [
            format!("Source::{title}"),
            format!("SourceState::{title}"),
            format!("{title}State"),
            format!("{name}::"),
            name.to_uppercase(),
        ];
        let (mut outside, mut rows, mut inside) = (Vec::new(), 0, 0);
        for f in &files {
            let rel = f.strip_prefix(root).unwrap().display().to_string();
            let mut code = code_only(&std::fs::read_to_string(f).unwrap());
            if let Some(t) = code.find("#[cfg(test)]\nmod tests") {
                code.truncate(t);
            }
            for (n, line) in code.lines().enumerate() {
                let hits = tokens.iter().filter(|t| {
                    line.match_indices(t.as_str()).any(|(k, _)| {
                        let before = line[..k].chars().next_back();
                        !before.is_some_and(|c| c.is_alphanumeric() || c == '_')
                    })
                });
                if hits.count() == 0 {
                    continue;
                }
                if rel.starts_with(&format!("src/source/{name}/")) {
                    inside += 1;
                } else if rel == "src/base/source_id.rs" && line.trim_start().starts_with(&format!("{title} = ")) {
                    rows += 1;
                } else if rel == "src/store/state.rs" && line.contains(&format!("SourceState::{title}(self.web")) {
                    // the schema-1 loader
                } else {
                    outside.push(format!("{rel}:{}: {}", n + 1, line.trim()));
                }
            }
        }
        assert!(outside.is_empty(), "the {name} source is named outside src/source/{name}/:\n{}", outside.join("\n"));
        assert_eq!(rows, 1, "the table of sources should hold one row for {name}");
        assert!(inside >= 3, "the scan found only {inside} mentions of {name} in its own folder: it is blind");
    }
}
