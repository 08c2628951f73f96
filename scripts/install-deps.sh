#!/usr/bin/env bash
# Installs what the tests need, idempotently: Debian packages for the C tests (compiler,
# valgrind, msgpack-c for the Fluent Bit host emulator's decoder, openssl for a self-signed
# TLS server in the certificate-verification test, systemd for `systemd-analyze verify` of the
# shipped unit, dpkg for `make deb`, jruby for the Logstash pipe-input test on the runtime
# Logstash uses, stunnel4 and tinyproxy for the private-CA and authenticating-proxy test).
# Runs as root in CI; without
# root and without the packages it says what is missing and fails.
set -euo pipefail

need=()
command -v cc >/dev/null 2>&1 || need+=(gcc)
command -v valgrind >/dev/null 2>&1 || need+=(valgrind)
command -v pkg-config >/dev/null 2>&1 || need+=(pkg-config)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
[ -f /usr/include/msgpack.h ] || need+=(libmsgpack-dev)
command -v systemd-analyze >/dev/null 2>&1 || need+=(systemd)
command -v dpkg-deb >/dev/null 2>&1 || need+=(dpkg)
command -v jruby >/dev/null 2>&1 || need+=(jruby)
command -v stunnel4 >/dev/null 2>&1 || need+=(stunnel4)
command -v tinyproxy >/dev/null 2>&1 || need+=(tinyproxy)

if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
echo "install-deps: installing ${need[*]}"
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO=sudo; else
    echo "install-deps: missing ${need[*]} and not root: install them with apt-get" >&2; exit 1
  fi
else
  SUDO=
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
