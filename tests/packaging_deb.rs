//! `make deb`: the package holds what an operator needs, installs into a scratch root, and what
//! it installed runs: the command, the C library (through its pkg-config file), the plugin's
//! exports, the unit (verified against the installed command) and the man pages.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn ok(out: Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn run(cmd: &mut Command, what: &str) -> String {
    let out =
        cmd.output().unwrap_or_else(|e| panic!("{what}: cannot run ({e}); `bash scripts/install-deps.sh` installs it"));
    ok(out, what)
}

fn multiarch() -> String {
    run(Command::new("gcc").arg("-print-multiarch"), "gcc -print-multiarch").trim().to_string()
}

/// Packages the release build (`make deb` is `make build` + scripts/deb.sh).
fn build_deb() -> PathBuf {
    // The command, the C library and the plugin as this run's build and the Fluent Bit and C ABI
    // tests (which run before this one) left them; built here only when missing, since even a
    // no-op `cargo build` from here re-resolves features differently from `cargo test` and
    // recompiles ring and the crate.
    let have = |p: &str| root().join(p).exists();
    if !have("fluent-bit-plugin/build/slack_audit.so")
        || !have("target/release/libslack_audit.a")
        || !have("target/release/libslack_audit.so")
    {
        run(Command::new("make").args(["-s", "plugin"]).current_dir(root()), "make plugin");
    }
    let printed = run(
        Command::new("bash").arg("scripts/deb.sh").env("DEB_COMPRESSION", "none").current_dir(root()),
        "scripts/deb.sh",
    );
    let deb = root().join(printed.lines().last().expect("make deb prints the package path").trim());
    assert!(deb.exists(), "{} missing", deb.display());
    deb
}

#[test]
fn deb_installs_a_working_collector_library_plugin_and_unit() {
    let deb = build_deb();
    let version = env!("CARGO_PKG_VERSION");
    assert!(deb.file_name().unwrap().to_string_lossy().starts_with(&format!("slack-audit_{version}_")));

    let field =
        |name: &str| run(Command::new("dpkg-deb").args(["-f"]).arg(&deb).arg(name), "dpkg-deb -f").trim().to_string();
    assert_eq!(field("Package"), "slack-audit");
    assert_eq!(field("Version"), version);
    let depends = field("Depends");
    assert!(depends.contains("libc6 (>= 2."), "{depends}");

    // The file list, exactly (directories aside).
    let ma = multiarch();
    let listing = run(Command::new("dpkg-deb").arg("-c").arg(&deb), "dpkg-deb -c");
    let mut files: Vec<String> = listing
        .lines()
        .filter(|l| !l.starts_with('d'))
        .map(|l| l.split_whitespace().last().unwrap().trim_start_matches("./").to_string())
        .collect();
    files.sort();
    let mut want: Vec<String> = [
        "usr/bin/slack-audit",
        "usr/include/slack_audit.h",
        "usr/lib/slack-audit/fluent-bit/slack_audit.so",
        "usr/lib/systemd/system/slack-audit.service",
        "usr/share/doc/slack-audit/ECS.md",
        "usr/share/doc/slack-audit/README.md",
        "usr/share/doc/slack-audit/copyright",
        "usr/share/doc/slack-audit/fluent-bit-plugin.md",
        "usr/share/doc/slack-audit/logstash-example.conf",
        "usr/share/doc/slack-audit/slack-audit.env.example",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain(
        ["libslack_audit.a", "libslack_audit.so", "pkgconfig/slack_audit.pc"]
            .iter()
            .map(|f| format!("usr/lib/{ma}/{f}")),
    )
    .chain(
        [
            "",
            "-run",
            "-check",
            "-validate",
            "-actions",
            "-schemas",
            "-state",
            "-state-show",
            "-state-reset",
            "-state-set",
            "-stats",
            "-sim",
        ]
        .iter()
        .map(|s| format!("usr/share/man/man1/slack-audit{s}.1.gz")),
    )
    // The guides the README links to (docs/*.md).
    .chain(std::fs::read_dir(root().join("docs")).unwrap().filter_map(|e| {
        let name = e.unwrap().file_name().to_string_lossy().into_owned();
        name.ends_with(".md").then(|| format!("usr/share/doc/slack-audit/docs/{name}"))
    }))
    .collect();
    want.sort();
    assert_eq!(files, want);

    let tmp = tempfile::tempdir().unwrap();
    let r = tmp.path();
    run(Command::new("dpkg").arg("-x").arg(&deb).arg(r), "dpkg -x");

    // The installed command runs.
    let bin = r.join("usr/bin/slack-audit");
    let v = run(Command::new(&bin).arg("--version"), "slack-audit --version");
    assert_eq!(v.trim(), format!("slack-audit {version}"));
    let state = r.join("state");
    let out = run(
        Command::new(&bin)
            .args(["validate", "--format", "ecs"])
            .env("STATE_DIRECTORY", &state)
            .env("SLACK_AUDIT_TOKEN", "xoxp-x"),
        "slack-audit validate",
    );
    assert!(out.contains("configuration is valid") && out.contains(state.to_str().unwrap()), "{out}");

    // Stripped: no debug sections left in what ships.
    let plugin = r.join("usr/lib/slack-audit/fluent-bit/slack_audit.so");
    let lib = r.join(format!("usr/lib/{ma}/libslack_audit.so"));
    for f in [&bin, &plugin, &lib] {
        let sections = run(Command::new("readelf").arg("-S").arg(f), "readelf -S");
        assert!(!sections.contains(".debug_info"), "{} is not stripped", f.display());
    }
    // The plugin exports only Fluent Bit's entry points; the library its C ABI.
    let plugin_syms = run(Command::new("nm").args(["-D", "--defined-only"]).arg(&plugin), "nm -D");
    assert!(plugin_syms.contains("FLBPluginRegister") && !plugin_syms.contains("slack_audit_new"), "{plugin_syms}");
    let lib_syms = run(Command::new("nm").args(["-D", "--defined-only"]).arg(&lib), "nm -D");
    assert!(lib_syms.contains("slack_audit_new") && lib_syms.contains("slack_audit_abi_version"));

    // A C program builds against the installed header and static library via pkg-config.
    let pc_dir = r.join(format!("usr/lib/{ma}/pkgconfig"));
    let flags = run(
        Command::new("pkg-config")
            .args(["--cflags", "--libs", "--static", "slack_audit"])
            .env("PKG_CONFIG_LIBDIR", &pc_dir)
            .env("PKG_CONFIG_SYSROOT_DIR", r),
        "pkg-config",
    );
    assert!(flags.contains(&format!("{}/usr/include", r.display())), "{flags}");
    let exe = r.join("drain");
    let mut cc = Command::new("cc");
    cc.arg("-o").arg(&exe).arg(root().join("examples/c/drain.c"));
    cc.arg("-static-libgcc").arg(format!("-I{}", r.join("usr/include").display()));
    // Link the static archive explicitly (with a .so beside it, -l would pick the .so).
    cc.arg(r.join(format!("usr/lib/{ma}/libslack_audit.a")));
    cc.args(flags.split_whitespace().filter(|f| !f.starts_with("-I") && !f.starts_with("-L") && *f != "-lslack_audit"));
    run(&mut cc, "cc examples/c/drain.c against the package");
    assert!(exe.exists());

    // The unit, as installed, passes systemd-analyze verify with the installed command.
    let unit = r.join("usr/lib/systemd/system/slack-audit.service");
    let out = Command::new("systemd-analyze")
        .args(["verify", "--man=no", "--recursive-errors=no"])
        .arg(format!("--root={}", r.display()))
        .arg(&unit)
        .output()
        .expect("systemd-analyze (scripts/install-deps.sh installs it)");
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && said.trim().is_empty(), "{said}");

    // The man pages are roff pages of the real commands.
    let page = man_text(&r.join("usr/share/man/man1/slack-audit-run.1.gz"));
    assert!(page.contains(".TH slack-audit-run 1") && page.contains("metrics\\-listen"), "{page}");
}

fn man_text(gz: &Path) -> String {
    run(Command::new("gzip").arg("-dc").arg(gz), "gzip -dc")
}
