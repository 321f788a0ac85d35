#!/usr/bin/env bash
# Builds the Debian package from the workspace with dpkg-deb alone (no cargo-deb):
#
#   packaging/deb/build.sh [OUT_DIR]     (default OUT_DIR: $CARGO_TARGET_DIR/debian)
#
# It builds the release binaries unless RK_DEB_SKIP_BUILD=1, lays out the
# package tree, and prints the path of the .deb it wrote. Contents:
#   /usr/bin/ringkeeper, rk-import, rk-inspect, rk-export, rk-cli
#   /lib/systemd/system/ringkeeper.service
#   /etc/ringkeeper/zoo.cfg                (a conffile)
#   /var/lib/ringkeeper                    (the ringkeeper user's, made in postinst)
#   /usr/share/doc/ringkeeper/             (README, operations, configuration, copyright)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
OUT="${1:-$TARGET/debian}"
BINARIES=(ringkeeper rk-import rk-inspect rk-export rk-cli)

if [[ "${RK_DEB_SKIP_BUILD:-0}" != 1 ]]; then
    (cd "$ROOT" && cargo build --release -p ringkeeper-server -p ringkeeper-tools >&2)
fi
for bin in "${BINARIES[@]}"; do
    [[ -x "$TARGET/release/$bin" ]] || { echo "missing $TARGET/release/$bin" >&2; exit 1; }
done

VERSION="$(sed -n '/^\[workspace.package\]/,/^\[/s/^version = "\(.*\)"/\1/p' "$ROOT/Cargo.toml")"
[[ -n "$VERSION" ]] || { echo "no version in $ROOT/Cargo.toml" >&2; exit 1; }
ARCH="$(dpkg --print-architecture)"

STAGE="$(mktemp -d "${TMPDIR:-/tmp}/ringkeeper-deb.XXXXXX")"
trap 'rm -rf "$STAGE"' EXIT
PKG="$STAGE/ringkeeper"
install -d "$PKG/DEBIAN" "$PKG/usr/bin" "$PKG/lib/systemd/system" "$PKG/etc/ringkeeper" \
    "$PKG/var/lib/ringkeeper" "$PKG/usr/share/doc/ringkeeper"
for bin in "${BINARIES[@]}"; do
    install -m 0755 "$TARGET/release/$bin" "$PKG/usr/bin/$bin"
done
# The release profile keeps line tables for backtraces; the package ships without.
strip --strip-debug "$PKG"/usr/bin/*
install -m 0644 "$HERE/ringkeeper.service" "$PKG/lib/systemd/system/ringkeeper.service"
install -m 0644 "$HERE/zoo.cfg" "$PKG/etc/ringkeeper/zoo.cfg"
install -m 0644 "$HERE/copyright" "$PKG/usr/share/doc/ringkeeper/copyright"
for doc in README.md docs/operations.md docs/configuration.md docs/compatibility.md; do
    install -m 0644 "$ROOT/$doc" "$PKG/usr/share/doc/ringkeeper/$(basename "$doc")"
done
for script in postinst prerm postrm; do
    install -m 0755 "$HERE/$script" "$PKG/DEBIAN/$script"
done
echo /etc/ringkeeper/zoo.cfg >"$PKG/DEBIAN/conffiles"
SIZE_KB="$(du -sk --exclude=DEBIAN "$PKG" | cut -f1)"
cat >"$PKG/DEBIAN/control" <<CONTROL
Package: ringkeeper
Version: $VERSION
Architecture: $ARCH
Maintainer: ringkeeper developers <ringkeeper@localhost>
Installed-Size: $SIZE_KB
Depends: libc6, adduser
Section: net
Priority: optional
Description: ZooKeeper-compatible coordination service
 ringkeeper speaks Apache ZooKeeper's client protocol, reads its zoo.cfg and
 imports its data directory on first start, so existing ZooKeeper clients and
 configurations work unchanged. Thread-per-core on io_uring.
CONTROL

mkdir -p "$OUT"
DEB="$OUT/ringkeeper_${VERSION}_${ARCH}.deb"
dpkg-deb --root-owner-group --build "$PKG" "$DEB" >&2
echo "$DEB"
