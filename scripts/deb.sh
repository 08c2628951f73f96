#!/usr/bin/env bash
# Builds target/debian/slack-audit_<version>_<arch>.deb from the release build (`make deb` runs
# `make build` first): the command, libslack_audit.{so,a}, the header, the pkg-config file, the
# Fluent Bit plugin (all stripped), the systemd unit, man pages generated from the CLI's own
# --help definitions, and the docs. Plain dpkg-deb, no debhelper: the package is a set of files
# plus three small maintainer scripts (packaging/debian/).
set -euo pipefail
cd "$(dirname "$0")/.."

REL=target/release
OUT=target/debian
ROOT=$OUT/root
VERSION=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
ARCH=$(dpkg --print-architecture)
MULTIARCH=$(gcc -print-multiarch 2>/dev/null || true)
[ -n "$MULTIARCH" ] || MULTIARCH=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
LIBDIR=usr/lib/$MULTIARCH
DOC=usr/share/doc/slack-audit
PLUGIN=fluent-bit-plugin/build/slack_audit.so

for f in $REL/slack-audit $REL/libslack_audit.so $REL/libslack_audit.a $PLUGIN include/slack_audit.h; do
  [ -f "$f" ] || { echo "deb: $f is missing; run 'make build' first" >&2; exit 1; }
done

rm -rf "$ROOT"
install -d "$ROOT/DEBIAN" "$ROOT/usr/bin" "$ROOT/$LIBDIR/pkgconfig" "$ROOT/usr/include" \
  "$ROOT/usr/lib/slack-audit/fluent-bit" "$ROOT/usr/lib/systemd/system" "$ROOT/$DOC" \
  "$ROOT/usr/share/man/man1"

# Binaries without their debug info (the release profile keeps line tables for backtraces).
install -m 0755 $REL/slack-audit "$ROOT/usr/bin/slack-audit"
strip --strip-unneeded "$ROOT/usr/bin/slack-audit"
install -m 0644 $REL/libslack_audit.so "$ROOT/$LIBDIR/libslack_audit.so"
strip --strip-unneeded "$ROOT/$LIBDIR/libslack_audit.so"
install -m 0644 $REL/libslack_audit.a "$ROOT/$LIBDIR/libslack_audit.a"
strip --strip-debug "$ROOT/$LIBDIR/libslack_audit.a"
install -m 0644 $PLUGIN "$ROOT/usr/lib/slack-audit/fluent-bit/slack_audit.so"
strip --strip-unneeded "$ROOT/usr/lib/slack-audit/fluent-bit/slack_audit.so"
install -m 0644 include/slack_audit.h "$ROOT/usr/include/slack_audit.h"
sed -e 's|@PREFIX@|/usr|' -e "s|@VERSION@|$VERSION|" -e "s|^libdir=.*|libdir=\${prefix}/lib/$MULTIARCH|" \
  slack_audit.pc.in > "$ROOT/$LIBDIR/pkgconfig/slack_audit.pc"
install -m 0644 packaging/slack-audit.service "$ROOT/usr/lib/systemd/system/slack-audit.service"

# One man page per command, from the same clap definitions as --help.
"$ROOT/usr/bin/slack-audit" man --out "$ROOT/usr/share/man/man1" >/dev/null
gzip -9n "$ROOT"/usr/share/man/man1/*.1

install -m 0644 README.md "$ROOT/$DOC/README.md"
install -m 0644 fluent-bit-plugin/README.md "$ROOT/$DOC/fluent-bit-plugin.md"
install -m 0644 logstash-example.conf packaging/slack-audit.env.example "$ROOT/$DOC/"
[ -f docs/ECS.md ] && install -m 0644 docs/ECS.md "$ROOT/$DOC/ECS.md"
# The guides the README links to, under the same relative path (docs/…).
install -d "$ROOT/$DOC/docs"
install -m 0644 docs/*.md "$ROOT/$DOC/docs/"
install -m 0644 packaging/debian/copyright "$ROOT/$DOC/copyright"
install -m 0755 packaging/debian/postinst packaging/debian/prerm packaging/debian/postrm "$ROOT/DEBIAN/"

# Depends: the package of each shared library the binaries need (as dpkg-shlibdeps would find
# it), with the newest glibc symbol version they use as libc6's lower bound.
bins=("$ROOT/usr/bin/slack-audit" "$ROOT/$LIBDIR/libslack_audit.so" "$ROOT/usr/lib/slack-audit/fluent-bit/slack_audit.so")
declare -A pkgs=()
for lib in $(objdump -p "${bins[@]}" | awk '/NEEDED/ {print $2}' | sort -u); do
  path=$(ldconfig -p | awk -v l="$lib" '$1 == l && /x86-64|64bit|=>/ {print $NF; exit}')
  [ -n "$path" ] || { echo "deb: cannot find $lib" >&2; exit 1; }
  pkg=$(dpkg -S "$(readlink -f "$path")" 2>/dev/null | head -1 | cut -d: -f1) || true
  [ -n "$pkg" ] || pkg=$(dpkg -S "$path" | head -1 | cut -d: -f1)
  pkgs[$pkg]=1
done
glibc=$(objdump -T "${bins[@]}" | grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -uV | tail -1)
depends=""
for p in $(printf '%s\n' "${!pkgs[@]}" | sort); do
  if [ "$p" = libc6 ]; then entry="libc6 (>= $glibc)"; else entry=$p; fi
  depends=${depends:+$depends, }$entry
done

size=$(du -sk --exclude=DEBIAN "$ROOT" | cut -f1)
cat > "$ROOT/DEBIAN/control" <<EOF
Package: slack-audit
Version: $VERSION
Architecture: $ARCH
Maintainer: slack-audit developers <slack-audit@localhost>
Installed-Size: $size
Depends: $depends
Recommends: systemd
Suggests: fluent-bit, logstash
Section: admin
Priority: optional
Description: Slack audit log collector for Fluent Bit, Logstash and C programs
 slack-audit pulls Slack's audit events (Enterprise Audit Logs API) and the access and
 integration logs of the Web API, with durable checkpoints, an org-wide rate budget and
 at-least-once delivery. It ships the slack-audit command (NDJSON on stdout, raw or ECS),
 a hardened systemd unit, the C library libslack_audit with its header and pkg-config
 file, and a Fluent Bit input plugin (/usr/lib/slack-audit/fluent-bit/slack_audit.so).
EOF
(cd "$ROOT" && find . -type f ! -path './DEBIAN/*' -printf '%P\0' | sort -z | xargs -0 md5sum) > "$ROOT/DEBIAN/md5sums"
chmod 0644 "$ROOT/DEBIAN/control" "$ROOT/DEBIAN/md5sums"
find "$ROOT" -type d -exec chmod 0755 {} +

deb=$OUT/slack-audit_${VERSION}_${ARCH}.deb
# xz for the real package; the test sets DEB_COMPRESSION=none (compressing 38 MB with xz takes
# a minute on a busy CI machine and tests dpkg, not us).
dpkg-deb --root-owner-group -Z"${DEB_COMPRESSION:-xz}" --build "$ROOT" "$deb" >/dev/null
echo "$deb"
