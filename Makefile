# slack-audit: `make demo` runs the collector end to end against the bundled simulator;
# `make test` runs every test. Both install what they need (see scripts/install-deps.sh).

CARGO        ?= cargo
CBINDGEN_VER := 0.29.4
TOOLS        := $(CURDIR)/.tools
CBINDGEN     := $(TOOLS)/bin/cbindgen
RELEASE      := target/release
BIN          := $(RELEASE)/slack-audit
PREFIX       ?= /usr/local
SHELL        := /bin/bash

.PHONY: options-doc all build header header-check test test-rust demo bench bench-peers soak fuzz install clean deps lint deb

# Extra targets (mk/c.mk: plugin, c-tests) add to EXTRA_TESTS and to the rules below.
EXTRA_TESTS :=
-include mk/*.mk
.DEFAULT_GOAL := all

all: build

build:
	$(CARGO) build --release

deps:
	@bash scripts/install-deps.sh

$(CBINDGEN):
	$(CARGO) install cbindgen --version $(CBINDGEN_VER) --locked --root $(TOOLS)

# The committed header is generated; `make header` refreshes it.
header: $(CBINDGEN)
	$(CBINDGEN) --quiet --config cbindgen.toml --crate slack-audit --output include/slack_audit.h

header-check: $(CBINDGEN)
	@tmp=$$(mktemp); $(CBINDGEN) --quiet --config cbindgen.toml --crate slack-audit --output $$tmp; \
	if ! diff -u include/slack_audit.h $$tmp; then echo "include/slack_audit.h is out of date: run 'make header' and commit it"; rm -f $$tmp; exit 1; fi; \
	rm -f $$tmp; echo "header-check: include/slack_audit.h matches src/ffi/"

# The option tables of README.md and fluent-bit-plugin/README.md are generated from the option
# table in src/config.rs; tests/repo_consistency.rs (part of `make test`) fails when they drift.
options-doc:
	$(CARGO) run --release --quiet --bin slack-audit -- options-doc README.md fluent-bit-plugin/README.md

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

# Every Rust test of the workspace (unit tests of the library and of the simulator crate in
# sim/, integration: the simulator, the CLI, the C ABI under sanitizers and valgrind, the Fluent
# Bit plugin in its host emulator), then one total line.
test-rust:
	@mkdir -p target
	@set -o pipefail; $(CARGO) test --release --workspace --lib --bins --tests 2>&1 | tee target/test-rust.log
	@awk '/^test result:/ {p += $$4; f += $$6} END {printf "%d passed, %d failed\n", p, f}' target/test-rust.log

test: deps header-check test-rust $(EXTRA_TESTS)

demo: build
	@bash scripts/demo.sh $(BIN)

# Encoder and inflate+validate micro-benchmarks, 1M-event CLI drains with and without gzip, a
# 50 calls/min drain and the plugin's collect path; prints a table, writes target/bench.json.
bench:
	@BIN=$(BIN) bash scripts/bench.sh

# slack-audit, helr 0.7.0 and slack_sdk 3.47 (Python) draining the same simulator dataset, one
# run (CPU from wait4, bench/rusage.py); installs the peers into .tools/ on first use (PEERS=dir elsewhere). Not part of `make test`.
PEERS ?= $(TOOLS)
bench-peers:
	@BIN=$(BIN) PEERS=$(PEERS) bash scripts/bench-peers.sh

# Long reliability variants (issue 5); `make test` runs the short ones.
soak:
	$(CARGO) test --release --test reliability_faults -- --ignored --nocapture
	for i in 1 2 3; do $(CARGO) test --release --test reliability_crash -- --nocapture || exit 1; done

FUZZ_ITERS ?= 300000
fuzz:
	SLACK_AUDIT_FUZZ_ITERS=$(FUZZ_ITERS) $(CARGO) test --release --test reliability_hostile -- --nocapture

VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)

# Library, header, pkg-config file and the command. DESTDIR is honoured for packaging.
install: build
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/include
	install -m 0755 $(BIN) $(DESTDIR)$(PREFIX)/bin/slack-audit
	install -m 0644 $(RELEASE)/libslack_audit.a $(DESTDIR)$(PREFIX)/lib/libslack_audit.a
	install -m 0755 $(RELEASE)/libslack_audit.so $(DESTDIR)$(PREFIX)/lib/libslack_audit.so
	install -m 0644 include/slack_audit.h $(DESTDIR)$(PREFIX)/include/slack_audit.h
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(VERSION)|' slack_audit.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/slack_audit.pc
	@echo "installed into $(DESTDIR)$(PREFIX); compile with: cc app.c $$(PKG_CONFIG_PATH=$(DESTDIR)$(PREFIX)/lib/pkgconfig pkg-config --cflags --libs slack_audit 2>/dev/null)"

# A Debian package of everything `make install` installs plus the Fluent Bit plugin, the systemd
# unit, man pages and docs: target/debian/slack-audit_<version>_<arch>.deb (scripts/deb.sh).
deb: build
	@bash scripts/deb.sh

clean:
	$(CARGO) clean
	rm -rf tests/c/build fluent-bit-plugin/build

