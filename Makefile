# slack-audit: `make demo` runs the collector end to end against the bundled simulator;
# `make test` runs every test. Both install what they need (see scripts/install-deps.sh).

CARGO        ?= cargo
CBINDGEN_VER := 0.29.4
TOOLS        := $(CURDIR)/.tools
CBINDGEN     := $(TOOLS)/bin/cbindgen
RELEASE      := target/release
BIN          := $(RELEASE)/slack-audit
PREFIX       ?= /usr/local

.PHONY: all build header header-check test test-rust demo bench soak fuzz install clean deps lint

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
	rm -f $$tmp; echo "header-check: include/slack_audit.h matches src/ffi.rs"

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets -- -D warnings

test-rust:
	$(CARGO) test --release

test: deps header-check test-rust $(EXTRA_TESTS)

demo: build
	@bash scripts/demo.sh $(BIN)

clean:
	$(CARGO) clean
	rm -rf tests/c/build fluent-bit-plugin/build

