#!/usr/bin/env bash
# Install monitord on Raspberry Pi OS / Debian 12 as a systemd service, or remove it.
#
#   sudo bash scripts/install.sh install            from this source tree
#   sudo bash scripts/install.sh install --from-wheel monitord-0.2.0-py3-none-any.whl
#   sudo bash scripts/install.sh uninstall          keeps the outbox, edited config, secrets
#   sudo bash scripts/install.sh uninstall --purge  removes those too, and the user
#
# The nurses' station (monitord-station.service, docs/station.md) is installed on every
# machine but never enabled or started: the admin enables it on the one station machine.
#
# Options:
#   --root DIR        lay everything out under DIR instead of / (tests, image builds): no
#                     user is created, no systemctl, no apt; what would be done is printed.
#                     The tree is relocatable: copy DIR's contents into an image's / and
#                     /opt/monitord/bin/monitord runs there.
#   --from-wheel F    install this wheel instead of the source tree the script lives in
#   --source DIR      install from this source tree (default: the script's own tree)
#   --pip-args "..."  extra arguments for pip (e.g. "--no-index --find-links /srv/wheels"
#                     for an offline Pi)
#   --purge           uninstall: also the outbox (/var/lib/monitord), config, secrets, user
#
# The exact layout is documented in docs/install.md and checked by tests/ops/test_install.py.
set -euo pipefail

PREFIX=/opt/monitord
ETC=/etc/monitord
UNIT=/etc/systemd/system/monitord.service
STATION_UNIT=/etc/systemd/system/monitord-station.service
STATE=/var/lib/monitord
SVC_USER=monitord
# Secrets in /etc/monitord/secrets, which systemd/monitord.service passes whole
# (LoadCredential=secrets:...); empty placeholders for the names the example config uses
# (`monitord doctor` reports an empty one). station-mqtt-password is the station's
# (LoadCredential= in systemd/monitord-station.service), written on the station machine only.
CREDENTIALS=(mqtt-password influx-token influx-password station-mqtt-password)
# The station's files in /etc/monitord: the operator's, never written by `install`, kept by
# `uninstall`, removed by `--purge` (as an edited monitord.toml and written secrets are).
STATION_OWN=(station.toml nurses)

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
action="${1:-}"; shift || true
# --help is taken first as well as after the action (`install.sh --help`).
case "$action" in -h|--help) sed -n '2,23p' "$0"; exit 0;; esac
root=""; wheel=""; source_dir="$here"; pip_args=""; purge=""
while [ $# -gt 0 ]; do
    case "$1" in
        --root) root="${2:?--root needs a directory}"; shift 2;;
        --root=*) root="${1#--root=}"; shift;;
        --from-wheel) wheel="${2:?--from-wheel needs a file}"; shift 2;;
        --from-wheel=*) wheel="${1#--from-wheel=}"; shift;;
        --source) source_dir="${2:?--source needs a directory}"; shift 2;;
        --source=*) source_dir="${1#--source=}"; shift;;
        --pip-args) pip_args="${2?}"; shift 2;;
        --pip-args=*) pip_args="${1#--pip-args=}"; shift;;
        --purge) purge=1; shift;;
        -h|--help) sed -n '2,23p' "$0"; exit 0;;
        *) echo "install.sh: unknown option: $1 (see --help)" >&2; exit 2;;
    esac
done
# DESTDIR is the packaging convention for the same thing.
[ -z "$root" ] && [ -n "${DESTDIR:-}" ] && root="$DESTDIR"
if [ -n "$root" ]; then
    mkdir -p "$root"
    root="$(cd "$root" && pwd)"
    [ "$root" = "/" ] && root=""
fi
R="$root"  # prefix for every path we touch; empty on a real install

say() { echo "monitord-install: $*"; }
die() { echo "monitord-install: error: $*" >&2; exit 1; }

# systemctl only on the live system with systemd running (not in --root, not in containers).
live_systemd() { [ -z "$R" ] && [ -d /run/systemd/system ] && command -v systemctl >/dev/null; }

need_root() {
    [ -n "$R" ] && return 0
    [ "$(id -u)" -eq 0 ] || die "run as root (sudo bash scripts/install.sh $action), or use --root DIR"
}

python_ok() {
    command -v python3 >/dev/null || return 1
    python3 -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' || return 1
    python3 -c 'import venv, ensurepip' 2>/dev/null
}

ensure_python() {
    python_ok && return 0
    if [ -z "$R" ] && command -v apt-get >/dev/null; then
        say "installing python3-venv (Debian package)"
        # The package lists first: a fresh image or container has none ("Package
        # 'python3-venv' has no installation candidate": a trixie root stopped so, exit 100),
        # and an image not updated for months names versions the mirror no longer has (404).
        # Offline (a wheelhouse Pi), the update fails and the install is tried on what is there.
        apt-get update -qq || say "apt-get update failed; trying with the package lists there are"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-venv ||
            die "could not install python3-venv (apt-get above); install it, then run this again"
        python_ok && return 0
    fi
    die "needs Python >= 3.11 with venv (Debian: apt-get install python3-venv)"
}

ensure_user() {
    local groups="dialout"
    if [ -n "$R" ]; then
        say "--root: user '$SVC_USER' not created; on the target run:"
        say "  useradd --system --user-group --home-dir $STATE --no-create-home --shell /usr/sbin/nologin $SVC_USER"
        say "  usermod -a -G dialout,bluetooth $SVC_USER   # bluetooth where BlueZ is installed"
        echo "# user $SVC_USER: not created (--root); groups dialout, bluetooth" >>"$manifest"
        return 0
    fi
    if ! getent passwd "$SVC_USER" >/dev/null; then
        useradd --system --user-group --home-dir "$STATE" --no-create-home \
            --shell /usr/sbin/nologin --comment "monitord daemon" "$SVC_USER"
        say "created system user $SVC_USER"
    fi
    # BlueZ's D-Bus policy admits the `bluetooth` group; it exists only where bluez is
    # installed (the unit does not require it, so a serial-only Pi works without it).
    getent group bluetooth >/dev/null && groups="$groups,bluetooth"
    usermod -a -G "$groups" "$SVC_USER"
    echo "# user $SVC_USER: groups $groups" >>"$manifest"
}

install_file() {  # install_file MODE SRC DEST
    install -D -m "$1" "$2" "$R$3"
    echo "$3" >>"$manifest"
}

# An upgrade checks the operator's configs with the new version before anything is
# replaced: one it rejects would stop the service at its restart (exit 78: no monitoring)
# with nothing said here. Then nothing is swapped in: the installed version stays (a
# running daemon keeps monitoring), the new one waits in $PREFIX.new to check a fix with,
# and the rejected lines are on the terminal. The config itself is never rewritten.
check_kept_configs() {  # check_kept_configs STAGE
    local name conf lines bad=""
    if [ -n "${MONITORD_INSTALL_NO_CHECK:-}" ]; then
        say "the kept configs were not checked (MONITORD_INSTALL_NO_CHECK is set)"
        return 0
    fi
    for name in monitord station; do
        conf="$R$ETC/$name.toml"
        [ -e "$conf" ] || continue
        # The example as installed, never edited: not configured yet, nothing runs on it;
        # unless conf.d/*.toml is merged into it (docs/install.md, "Fleet configuration"):
        # the daemon runs on the merge, and a rejected one stopped it at the restart.
        # Which conf.d files are merged is the new monitord's to say (`check-config
        # --files`), not a glob of this script's, which took files the daemon leaves out.
        if [ "$name" = monitord ] && [ -f "$R$ETC/monitord.example.toml" ] \
            && cmp -s "$conf" "$R$ETC/monitord.example.toml" \
            && [ "$("$1/bin/monitord" check-config --files -c "$conf")" = "$conf" ]; then
            continue
        fi
        if ! lines="$("$1/bin/monitord" check-config -c "$conf" 2>&1 >/dev/null)"; then
            echo "monitord-install: !!! the new monitord rejects your $ETC/$name.toml:" >&2
            printf '%s\n' "$lines" | sed 's/^/monitord-install: !!!   /' >&2
            bad=1
        elif [ -n "$lines" ]; then
            # Its warnings, swallowed before: the new virtualenv lacks what was added to the
            # old one by hand (the annunciator's gpiod binding, docs/delivery.md), and the
            # chair's buzzer went dead at the restart with only the journal's start line.
            echo "monitord-install: the new monitord warns of your $ETC/$name.toml:" >&2
            printf '%s\n' "$lines" | sed 's/^/monitord-install:   /' >&2
        fi
    done
    [ -z "$bad" ] && return 0
    cat >&2 <<MSG
monitord-install: !!! NOT UPGRADED: $PREFIX is unchanged; a running monitord keeps running.
monitord-install: !!! Fix the lines above in your config (this script never rewrites it; a
monitord-install: !!! running daemon reads it only when it starts), check the fix with
monitord-install: !!!   $R$PREFIX.new/bin/monitord check-config -c $R$ETC/monitord.toml
monitord-install: !!! (or station.toml), then run this install again.
MSG
    if [ -n "$R" ]; then
        # check-config looks up the config's absolute paths (TLS files, secrets) on this
        # machine, not under --root: an image's config may be sound where this is not.
        cat >&2 <<MSG
monitord-install: !!! With --root, paths in the config were looked up on this machine, not
monitord-install: !!! under $R: if they are the image's, MONITORD_INSTALL_NO_CHECK=1 skips it.
MSG
    fi
    exit 1
}

do_install() {
    need_root
    ensure_python
    [ -n "$wheel" ] && { [ -f "$wheel" ] || die "no such wheel: $wheel"; }
    [ -n "$wheel" ] || [ -f "$source_dir/pyproject.toml" ] || die "not a source tree: $source_dir"
    local src_unit="$here/systemd/monitord.service" src_conf="$here/config/example.toml"
    local src_station_unit="$here/systemd/monitord-station.service"
    local src_station_conf="$here/config/station.toml"
    [ -f "$src_unit" ] || die "missing $src_unit"
    [ -f "$src_station_unit" ] || die "missing $src_station_unit"

    # 1. The package, in its own virtualenv (README.md). A re-install replaces it
    #    whole, so no files of an older version linger. It is built beside the live one
    #    and swapped in only once it runs: a running daemon (or station) never imports
    #    from a half-built tree (an upgrade used to crash it, restart by restart, into
    #    systemd's start limit), and the monitoring gap is one restart (step 6), not the
    #    length of a pip install.
    local stage="$R$PREFIX.new"
    rm -rf "$stage" "$R$PREFIX.old"  # left by an interrupted run
    say "creating virtualenv $PREFIX"
    mkdir -p "$(dirname "$R$PREFIX")"
    python3 -m venv "$stage"
    local what="${wheel:-$source_dir}"
    say "installing monitord from $what (pip)"
    # shellcheck disable=SC2086  # pip_args is a list of words on purpose
    "$stage/bin/python" -m pip install --quiet --disable-pip-version-check $pip_args "$what"
    # The venv's scripts would start with `#!$stage/bin/python`: that path exists only
    # while building (and with --root only on the build machine). Relocated, they find their
    # Python beside themselves, so the tree runs where it is moved (/opt, an image's /opt).
    "$stage/bin/python" "$here/packaging/relocate-venv.py" "$stage" "$PREFIX" >/dev/null
    "$stage/bin/monitord" --version >/dev/null || die "the new monitord does not run; $PREFIX is unchanged"
    check_kept_configs "$stage"
    if [ -d "$R$PREFIX" ]; then
        say "replacing the existing $PREFIX"
        mv "$R$PREFIX" "$R$PREFIX.old"
    fi
    mv "$stage" "$R$PREFIX"
    rm -rf "$R$PREFIX.old"

    manifest="$R$PREFIX/share/monitord/install-manifest.txt"
    mkdir -p "$(dirname "$manifest")"
    : >"$manifest"
    echo "$PREFIX/share/monitord/install-manifest.txt" >>"$manifest"
    # Every page of docs/ with its pictures: they link each other (install.md -> mqtt.md).
    local d
    for d in "$here"/docs/*.md "$here"/docs/*.png; do
        install_file 0644 "$d" "$PREFIX/share/doc/monitord/$(basename "$d")"
    done

    # 2. The units. The station's is installed and never enabled nor started here: it runs
    #    on one machine of the clinic, of the admin's choosing (docs/install.md).
    install_file 0644 "$src_unit" "$UNIT"
    install_file 0644 "$src_station_unit" "$STATION_UNIT"

    # 3. Config: the example is always refreshed; monitord.toml is the operator's and is
    #    created from the example only when absent (never overwritten).
    install -d -m 0755 "$R$ETC"
    # As the .deb makes them: drop-ins (one per chair) and the certificates the docs copy
    # in (the CA; the station's pair). Before, `cp clinic-ca.pem /etc/monitord/tls/`
    # failed on an install.sh Pi while install.md promised the .deb's layout.
    install -d -m 0755 "$R$ETC/conf.d" "$R$ETC/tls"
    install_file 0644 "$src_conf" "$ETC/monitord.example.toml"
    # The station's example only: station.toml is written by the admin of the station machine.
    install_file 0644 "$src_station_conf" "$ETC/station.example.toml"
    if [ ! -e "$R$ETC/monitord.toml" ]; then
        install_file 0644 "$src_conf" "$ETC/monitord.toml"
    else
        say "kept your $ETC/monitord.toml"
    fi

    # 4. Secrets: root-only; systemd hands copies to the service (LoadCredential=).
    install -d -m 0700 "$R$ETC/secrets"
    local c
    for c in "${CREDENTIALS[@]}"; do
        if [ ! -e "$R$ETC/secrets/$c" ]; then
            install -m 0600 /dev/null "$R$ETC/secrets/$c"
            echo "$ETC/secrets/$c" >>"$manifest"
        fi
    done

    # 5. The service user (owner of /var/lib/monitord, made by systemd's StateDirectory=).
    ensure_user

    # 6. The new unit and code take effect: a service that was running is restarted on
    #    them (try-restart: one that was stopped stays stopped; nothing is enabled).
    if live_systemd; then
        systemctl daemon-reload
        systemctl try-restart monitord.service monitord-station.service
    fi

    cat <<EOF

monitord $("$R$PREFIX/bin/monitord" --version | awk '{print $2}') is installed${R:+ under $R}.
Next steps:
  1. Edit $ETC/monitord.toml (site id, time zone: the example's is America/New_York,
     broker, database, chairs and devices).
  2. Write the secrets it names (one line each, root-only):
       $ETC/secrets/mqtt-password   $ETC/secrets/influx-token   $ETC/secrets/influx-password
  3. Check everything:   sudo $PREFIX/bin/monitord doctor -c $ETC/monitord.toml
  4. Start at boot:      sudo systemctl enable --now monitord
     Follow the log:     journalctl -u monitord -f
Nurses' station (one machine of the clinic; never enabled here): $PREFIX/share/doc/monitord/station.md
Docs: $PREFIX/share/doc/monitord/operations.md
EOF
}

remove_if_unchanged() {  # remove_if_unchanged FILE REFERENCE
    if [ -e "$R$1" ] && { [ -n "$purge" ] || cmp -s "$R$1" "$2"; }; then
        rm -f "$R$1"
    elif [ -e "$R$1" ]; then
        say "kept $1 (edited; --purge removes it)"
    fi
}

do_uninstall() {
    need_root
    if live_systemd; then
        systemctl disable --now monitord.service 2>/dev/null || true
        systemctl disable --now monitord-station.service 2>/dev/null || true
    fi
    rm -f "$R$UNIT" "$R$STATION_UNIT"
    live_systemd && systemctl daemon-reload

    local example="$R$ETC/monitord.example.toml" ref
    ref="$(mktemp)"; trap 'rm -f "$ref"' RETURN
    if [ -f "$example" ]; then cp "$example" "$ref"; else cp "$here/config/example.toml" "$ref"; fi
    remove_if_unchanged "$ETC/monitord.toml" "$ref"
    rm -f "$example" "$R$ETC/station.example.toml"
    local f
    for f in "${STATION_OWN[@]}"; do
        if [ -n "$purge" ]; then
            rm -f "$R$ETC/$f"
        elif [ -e "$R$ETC/$f" ]; then
            say "kept $ETC/$f (yours; --purge removes it)"
        fi
    done
    local c
    for c in "${CREDENTIALS[@]}"; do
        remove_if_unchanged "$ETC/secrets/$c" /dev/null
    done
    # --purge: all of /etc/monitord, as the .deb's purge (conf.d/, tls/, nurses included).
    [ -n "$purge" ] && rm -rf "$R$ETC"
    rmdir "$R$ETC/secrets" "$R$ETC/conf.d" "$R$ETC/tls" 2>/dev/null || true  # if empty
    rmdir "$R$ETC" 2>/dev/null || true

    rm -rf "$R$PREFIX"

    # The outbox may hold readings and alert events not yet delivered: never removed
    # without --purge. The user stays with it (it owns those files).
    if [ -n "$purge" ]; then
        rm -rf "$R$STATE"
        if [ -z "$R" ] && getent passwd "$SVC_USER" >/dev/null; then
            userdel "$SVC_USER" && say "removed user $SVC_USER"
        fi
    elif [ -e "$R$STATE" ]; then
        say "kept $STATE (outbox: may hold undelivered data; --purge removes it and the user)"
    fi
    say "monitord removed${R:+ from $R}"
}

case "$action" in
    install) do_install;;
    uninstall) do_uninstall;;
    *) echo "usage: scripts/install.sh install|uninstall [--root DIR] [--from-wheel F] [--source DIR] [--pip-args ARGS] [--purge]" >&2; exit 2;;
esac
