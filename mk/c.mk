# C side: the C ABI tests, the example, the Fluent Bit plugin and its host emulator.
# Included by the main Makefile. `cargo test --release` (part of `make test`) runs them through
# tests/c_abi.rs and tests/fluent_bit_plugin.rs, which call `make -s plugin c-tests` first.

CC          ?= cc
STATICLIB   := $(RELEASE)/libslack_audit.a
C_BUILD     := tests/c/build
PLUGIN_DIR  := fluent-bit-plugin
PLUGIN_SO   := $(PLUGIN_DIR)/build/slack_audit.so
C_WARN      := -std=c11 -Wall -Wextra -Werror -Wno-unused-parameter
C_LIBS      := -lpthread -ldl -lm
# ASan/UBSan variant: every UB finding aborts (no recovery), so a finding fails the test.
C_SAN       := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer

# Every C artifact is rebuilt when these build rules change.
C_MK        := mk/c.mk

C_TEST_BINS := $(C_BUILD)/test_abi $(C_BUILD)/test_abi_asan $(C_BUILD)/drain $(C_BUILD)/drain_asan \
               $(C_BUILD)/flb_host

.PHONY: plugin c-tests c-lib FORCE

# cargo decides whether the library is stale; make only relinks when the .a changed.
$(STATICLIB): FORCE
	@$(CARGO) build --release --lib --quiet

# test_abi.c also calls slack_audit_test_panic, which only a library built with the
# `test-exports` feature exports. That library is built into its own target dir, so
# target/release, which `make install`, `make deb` and the plugin take, never holds a test export
# (cargo names a crate's .a and .so without a hash: two feature sets in one target dir would
# overwrite each other's).
TEST_TARGET    := target/test-exports
TEST_STATICLIB := $(TEST_TARGET)/release/libslack_audit.a
TEST_SEEDED    := $(TEST_TARGET)/release/.seeded

# Its dependencies are the very units of target/release (same crates, features and profile):
# the first time, they are copied from there (about 280 MB, seconds) rather than compiled a
# second time (about 1.5 CPU-minutes, a third of `make test`'s library builds on a fresh clone).
# Copies, not hard links, and nothing of slack-audit's own: cargo rebuilds this crate here, and
# nothing written here can reach target/release. A unit that differs is simply built again.
$(TEST_SEEDED): | $(STATICLIB)
	@mkdir -p $(TEST_TARGET)/release/deps $(TEST_TARGET)/release/build $(TEST_TARGET)/release/.fingerprint
	@cd $(RELEASE) && find deps -maxdepth 1 -type f \( -name '*.rlib' -o -name '*.rmeta' -o -name '*.so' -o -name '*.d' \) \
	    ! -name '*slack_audit*' -exec cp -a --parents {} $(CURDIR)/$(TEST_TARGET)/release/ \; ; \
	    for d in build/* .fingerprint/*; do case "$${d#*/}" in slack-audit-*|slack_audit-*) ;; \
	    *) [ -e "$(CURDIR)/$(TEST_TARGET)/release/$$d" ] || cp -a "$$d" "$(CURDIR)/$(TEST_TARGET)/release/$$d";; esac; done
	@touch $@

$(TEST_STATICLIB): FORCE | $(TEST_SEEDED)
	@$(CARGO) build --release --lib --quiet --no-default-features --features test-exports --target-dir $(TEST_TARGET)

c-lib: $(STATICLIB)

c-tests: $(C_TEST_BINS)

$(C_BUILD):
	@mkdir -p $@

$(C_BUILD)/test_abi: tests/c/test_abi.c include/slack_audit.h $(TEST_STATICLIB) $(C_MK) | $(C_BUILD)
	$(CC) $(C_WARN) -O1 -g -Iinclude -o $@ $< $(TEST_STATICLIB) $(C_LIBS)

$(C_BUILD)/test_abi_asan: tests/c/test_abi.c include/slack_audit.h $(TEST_STATICLIB) $(C_MK) | $(C_BUILD)
	$(CC) $(C_WARN) -O1 -g $(C_SAN) -Iinclude -o $@ $< $(TEST_STATICLIB) $(C_LIBS)

$(C_BUILD)/drain: examples/c/drain.c include/slack_audit.h $(STATICLIB) $(C_MK) | $(C_BUILD)
	$(CC) $(C_WARN) -O1 -g -Iinclude -o $@ $< $(STATICLIB) $(C_LIBS)

$(C_BUILD)/drain_asan: examples/c/drain.c include/slack_audit.h $(STATICLIB) $(C_MK) | $(C_BUILD)
	$(CC) $(C_WARN) -O1 -g $(C_SAN) -Iinclude -o $@ $< $(STATICLIB) $(C_LIBS)

# The host emulator loads the plugin with dlopen, like Fluent Bit's proxy loader; it does not
# link the library.
$(C_BUILD)/flb_host: tests/c/flb_host.c $(C_MK) | $(C_BUILD)
	$(CC) $(C_WARN) -O1 -g -o $@ $< -lmsgpackc $(C_LIBS)

# One deployable file: the Rust static library linked into the plugin, only FLB* exported.
# -z nodelete: Fluent Bit dlcloses the plugin at exit; a collector worker abandoned mid-request
# (shutdown waits at most 0.5 s) must not find its code unmapped. --gc-sections drops the parts
# of the Rust library nothing reaches from the FLB* entry points (5.2 -> 3.2 MB stripped).
# Shipped stripped (about 27 MB of DWARF, mostly the Rust library's, would otherwise ride along);
# the debug info goes to slack_audit.so.debug next to it, found by gdb/valgrind through the
# .gnu_debuglink section.
PLUGIN_FULL := $(PLUGIN_DIR)/build/slack_audit.full.so
PLUGIN_DBG  := $(PLUGIN_SO).debug

plugin: $(PLUGIN_SO)

$(PLUGIN_FULL): $(PLUGIN_DIR)/slack_audit.c $(PLUGIN_DIR)/exports.map \
              include/slack_audit.h $(STATICLIB) $(C_MK)
	@mkdir -p $(@D)
	$(CC) $(C_WARN) -O2 -g -fPIC -fvisibility=hidden -shared -Iinclude -o $@ $< $(STATICLIB) \
	    -Wl,--exclude-libs,ALL -Wl,--version-script=$(PLUGIN_DIR)/exports.map -Wl,-z,defs -Wl,-z,now -Wl,-z,nodelete \
	    -Wl,--gc-sections $(C_LIBS)

$(PLUGIN_SO): $(PLUGIN_FULL)
	objcopy --only-keep-debug $< $(PLUGIN_DBG)
	objcopy --strip-all --add-gnu-debuglink=$(PLUGIN_DBG) $< $@
	@cp $@ $(RELEASE)/slack_audit.so
	@cp $(PLUGIN_DBG) $(RELEASE)/slack_audit.so.debug

build: plugin

# A real Fluent Bit (not part of `make test`: no registry packages one; see
# fluent-bit-plugin/README.md for building v5.1.1 or v2.1.10):
#   make test-fluent-bit FLUENT_BIT=/path/to/fluent-bit
# exact drain, stop budget and the SIGTERM/SIGKILL durability run with storage.type filesystem.
.PHONY: test-fluent-bit fluent-bit-var
fluent-bit-var:
	@if [ -z "$(FLUENT_BIT)" ]; then \
	    echo "test-fluent-bit: FLUENT_BIT is not set: run make test-fluent-bit FLUENT_BIT=/path/to/fluent-bit" \
	         "(fluent-bit-plugin/README.md says how to build one)" >&2; exit 2; fi
	@[ -x "$(FLUENT_BIT)" ] || { echo "test-fluent-bit: $(FLUENT_BIT) is not an executable" >&2; exit 2; }

test-fluent-bit: fluent-bit-var plugin
	@$(CARGO) build --release --bin slack-audit --quiet
	python3 $(PLUGIN_DIR)/test_real_fluent_bit.py "$(FLUENT_BIT)" $(PLUGIN_SO) $(RELEASE)/slack-audit

# The plugin's memory in a real Fluent Bit (figures, no pass/fail): peak RSS of a 200,000-event
# backfill at limit 9999 against Fluent Bit with the plugin idle and with the dummy input
# handing over as many records (scripts/fb_memory.sh; EVENTS=, LIMIT=, RUNS=, OUTPUT=file).
#   make bench-fluent-bit-memory FLUENT_BIT=/path/to/fluent-bit
.PHONY: bench-fluent-bit-memory
bench-fluent-bit-memory: fluent-bit-var plugin
	@$(CARGO) build --release --bin slack-audit --quiet
	@FLUENT_BIT="$(FLUENT_BIT)" PLUGIN=$(PLUGIN_SO) BIN=$(RELEASE)/slack-audit bash scripts/fb_memory.sh
