#!/usr/bin/env bash
# Build the Debian package from this tree: monitord_VERSION_ARCH.deb.
#
#   bash packaging/build-deb.sh [--out DIR] [--python /usr/bin/python3] [--pip-args "..."]
#
# The package holds a relocatable virtualenv at /opt/monitord (monitord without the `sim`
# extra, and its dependency wheels for this machine's architecture, from PyPI or from
# --pip-args "--no-index --find-links WHEELHOUSE"), the unit, docs, examples and the
# maintainer scripts in packaging/debian/. Built with dpkg-deb only (no debhelper needed).
# The architecture is this machine's (dpkg --print-architecture): build arm64 on a Pi or an
# arm64 runner (docs/install.md, "The Debian package"). Tested by tests/ops/test_deb.py.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="$here/dist"; python=/usr/bin/python3; pip_args=""
while [ $# -gt 0 ]; do
    case "$1" in
        --out) out="${2:?--out needs a directory}"; shift 2;;
        --python) python="${2:?--python needs a path}"; shift 2;;
        --pip-args) pip_args="${2?}"; shift 2;;
        -h|--help) awk 'NR > 1 && !/^#/ {exit} NR > 1' "$0"; exit 0;;
        *) echo "build-deb: unknown option: $1" >&2; exit 2;;
    esac
done
command -v dpkg-deb >/dev/null || { echo "build-deb: needs dpkg-deb (Debian)" >&2; exit 69; }
"$python" -c 'import sys, venv, ensurepip; sys.exit(sys.version_info[:2] < (3, 11))' ||
    { echo "build-deb: $python must be Python >= 3.11 with venv (apt-get install python3-venv)" >&2; exit 69; }

version="$("$python" -c 'import ast, sys
for node in ast.parse(open(sys.argv[1]).read()).body:
    if isinstance(node, ast.Assign) and node.targets[0].id == "__version__":
        print(node.value.value)' "$here/monitord/__init__.py")"
pyver="$("$python" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')"
arch="$(dpkg --print-architecture)"
mkdir -p "$out"; out="$(cd "$out" && pwd)"
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
stage="$work/root"
say() { echo "build-deb: $*"; }

# 1. The virtualenv, built in the stage and made relocatable for /opt/monitord.
say "virtualenv ($python, Python $pyver) with monitord $version"
"$python" -m venv "$stage/opt/monitord"
# A copy of the tree, so the build leaves nothing (build/, *.egg-info) in the checkout.
mkdir "$work/src"
(cd "$here" && git ls-files -z --cached --others --exclude-standard 2>/dev/null || find . -type f -not -path './.*' -print0) |
    (cd "$here" && xargs -0 cp -P --parents -t "$work/src")
# shellcheck disable=SC2086  # pip_args is a list of words on purpose
"$stage/opt/monitord/bin/python" -m pip install --quiet --disable-pip-version-check \
    --no-compile $pip_args "$work/src"
"$stage/opt/monitord/bin/python" "$here/packaging/relocate-venv.py" "$stage/opt/monitord" /opt/monitord >/dev/null
"$stage/opt/monitord/bin/monitord" --version >/dev/null
# No bytecode shipped: postinst compiles for the installed paths. Removed after the run
# above, which (where Python keeps bytecode) wrote some naming the stage's temporary path:
# postinst kept those as current, and the daemon's tracebacks named files not there.
find "$stage/opt/monitord" -name __pycache__ -prune -exec rm -rf {} +

# 2. The units, docs, examples, the command on PATH. The station's unit is shipped on every
#    machine and enabled by the admin on the station machine only (never by the package).
install -D -m 0644 "$here/systemd/monitord.service" "$stage/lib/systemd/system/monitord.service"
install -m 0644 "$here/systemd/monitord-station.service" "$stage/lib/systemd/system/"
install -d -m 0755 "$stage/opt/monitord/share/doc/monitord" "$stage/usr/share/doc/monitord"
for f in "$here"/docs/*.md "$here"/docs/*.png "$here/README.md" "$here/CHANGELOG.md"; do
    install -m 0644 "$f" "$stage/opt/monitord/share/doc/monitord/"
done
ln -s /opt/monitord/share/doc/monitord "$stage/usr/share/doc/monitord/docs"
install -m 0644 "$here/CHANGELOG.md" "$stage/usr/share/doc/monitord/changelog.md"
cp -r "$here/config" "$stage/usr/share/doc/monitord/examples"
install -D -m 0644 "$here/config/example.toml" "$stage/etc/monitord/monitord.example.toml"
install -m 0644 "$here/config/station.toml" "$stage/etc/monitord/station.example.toml"
install -d -m 0755 "$stage/usr/bin"
ln -s /opt/monitord/bin/monitord "$stage/usr/bin/monitord"

# 3. Control files and maintainer scripts.
install -d -m 0755 "$stage/DEBIAN"
size="$(du -sk --exclude=DEBIAN "$stage" | cut -f1)"
next="$(echo "$pyver" | awk -F. '{print $1 "." $2 + 1}')"
cat >"$stage/DEBIAN/control" <<CONTROL
Package: monitord
Version: $version
Architecture: $arch
Maintainer: monitord maintainers <monitord@localhost>
Installed-Size: $size
Depends: python3 (>= $pyver), python3 (<< $next), adduser
Recommends: bluez
Section: misc
Priority: optional
Homepage: file:///opt/monitord/share/doc/monitord/README.md
Description: bedside vital-signs monitoring daemon for ketamine and esketamine clinics
 Reads NIBP, heart rate and SpO2 from bedside monitors over serial or Bluetooth LE,
 raises IEC 60601-1-8 style alerts, publishes over MQTT and stores to InfluxDB.
 The service is installed but never started or enabled by the package: configure
 /etc/monitord/monitord.toml, run monitord doctor, then systemctl enable --now monitord.
 The nurses' station (monitord-station.service) is installed too, never enabled:
 on the one station machine, write /etc/monitord/station.toml and enable it.
CONTROL
# The examples are the package's (refreshed on upgrade); monitord.toml, station.toml,
# conf.d/, secrets/ and tls/ are the operator's, made by postinst only when absent (never
# station.toml: only the station machine has one): dpkg never owns them.
for s in preinst postinst prerm postrm; do
    install -m 0755 "$here/packaging/debian/$s" "$stage/DEBIAN/$s"
done

deb="$out/monitord_${version}_${arch}.deb"
dpkg-deb --root-owner-group -Zxz --build "$stage" "$deb" >/dev/null
say "built $deb"
