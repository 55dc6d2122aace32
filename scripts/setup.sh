#!/usr/bin/env bash
# One entry point for the two README commands.
#   scripts/setup.sh demo          install what is missing, then run `monitord demo`
#   scripts/setup.sh test [ARGS]   install what is missing (incl. test servers), then pytest
# Idempotent: Debian packages are installed only when missing, the virtualenv at .venv/
# is created once and re-synced with pyproject.toml (pip is a no-op when nothing changed).
set -euo pipefail
cd "$(dirname "$0")/.."
mode="${1:-}"; shift || true

need_debs() {
    local missing=()
    for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
    [ ${#missing[@]} -eq 0 ] && return 0
    echo "setup: installing Debian packages: ${missing[*]}" >&2
    local sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
    # Where no init system runs (containers, CI) the packages' services must not be
    # started by their maintainer scripts: the test fixtures start their own servers on
    # free loopback ports. On a real host systemd handles this and we leave it alone.
    local policy_added=""
    if [ ! -d /run/systemd/system ] && [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' | $sudo tee /usr/sbin/policy-rc.d >/dev/null
        $sudo chmod +x /usr/sbin/policy-rc.d; policy_added=1
    fi
    $sudo apt-get update -qq
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
    [ -n "$policy_added" ] && $sudo rm -f /usr/sbin/policy-rc.d
    return 0
}

ensure_venv() {
    local extras="$1"
    if [ ! -x .venv/bin/python ]; then
        python3 -m venv .venv || { need_debs python3-venv; python3 -m venv .venv; }
    fi
    local stamp=".venv/.monitord-installed-$extras"
    if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
        echo "setup: installing monitord[$extras] into .venv/ (log: .venv/pip.log)" >&2
        # pip's build chatter goes to the log; on failure it is shown in full.
        if ! { .venv/bin/python -m pip install -q --upgrade pip &&
               .venv/bin/python -m pip install -q -e ".[$extras]"; } >.venv/pip.log 2>&1; then
            cat .venv/pip.log >&2; exit 1
        fi
        touch "$stamp"
    fi
}

case "$mode" in
    demo)
        need_debs python3-venv
        ensure_venv sim,report
        exec .venv/bin/monitord demo "$@"
        ;;
    test)
        # Real servers for the fixtures; poppler-utils renders report PDFs and chromium
        # (headless) the report HTML and the station page in tests; systemd gives systemd-analyze for the
        # unit-file tests; faketime (libfaketime) steps a daemon's wall clock in
        # tests/faults; fonts-wqy-zenhei is the CJK font a nurse's name in Japanese is drawn
        # in on the report PDF (tests/report/test_pdf_fonts.py); gcc builds the bench's
        # slow-storage shim (bench/slowdisk.c, tested in tests/bench); openssl runs scripts/make-certs.sh in the docs test; dpkg-deb
        # (dpkg, always there) builds and dpkg installs the .deb in tests/ops/test_deb.py;
        # influxdb-client gives the `influx` CLI that docs/install.md's InfluxDB block runs
        # (tests/ops/test_install_blocks.py runs it for real; `influxdb` does not pull it in).
        need_debs python3-venv mosquitto mosquitto-clients influxdb influxdb-client victoria-metrics \
                  poppler-utils chromium systemd faketime gcc libc6-dev openssl fonts-wqy-zenhei
        ensure_venv test
        # Node-RED for tests/forward/test_forward_nodered.py (the shipped flow run in the
        # real thing), at the version tests/forward/nodered/package-lock.json pins, in the
        # virtualenv (outside the tree the linters and pytest walk); Node.js and npm from
        # Debian where the machine has none (one that has them keeps its own).
        command -v node >/dev/null 2>&1 || need_debs nodejs
        command -v npm >/dev/null 2>&1 || need_debs npm
        nr=.venv/node-red
        if [ ! -f "$nr/node_modules/.package-lock.json" ] ||
           [ tests/forward/nodered/package-lock.json -nt "$nr/node_modules/.package-lock.json" ]; then
            echo "setup: installing Node-RED into $nr (log: $nr/npm.log)" >&2
            mkdir -p "$nr"
            cp tests/forward/nodered/package.json tests/forward/nodered/package-lock.json "$nr/"
            if ! (cd "$nr" && npm ci --no-audit --no-fund) >"$nr/npm.log" 2>&1; then
                cat "$nr/npm.log" >&2; exit 1
            fi
        fi
        # The whole suite on three workers on two cores: its tests mostly wait on real time
        # (servers, ptys, group commits, timeouts, browsers), so a third worker fills the
        # waits (on a 2-core VM: two workers ~13 min, three ~9.5; with two other jobs
        # loading the machine, three passed in 12:27 where two had taken 15:45).
        # `loadfile`: a test file at a time to the worker that is free, so a costly module
        # fixture (the .deb build, the installed tree) is made once; in collection order
        # (`--no-loadscope-reorder`), which puts the longest files first
        # (tests/conftest.py LONG_FIRST) and ends both workers on short ones. (`loadgroup`
        # does not group under pytest 9: xdist 3.8 renames node ids it can no longer set.)
        # Four workers since 2026-12-04: the suite grew to 2952 tests and 15:33 on three
        # (~440 s of it are a few tests waiting idle on a browser's throttling or a dialog
        # left open, each holding a worker). Five tried on 2026-12-05: 17:05 against 18:16 on
        # four for 3160 tests, but with 3252 the CPU stayed at 100 % (21:47) and two tests
        # that wait on a loaded machine failed; four kept until the suite's CPU came down.
        # It did on 2026-12-05 (one Chromium per worker, bytecode kept: below): 15:28 on
        # four with the CPU 72 % busy, the workers waiting; five: 13:48 and 14:00 (CPU 79 %
        # busy); six: 12:54 (3295 tests, CPU 83 % busy), kept for the VM's slower phases
        # (a fifth longer before).
        # With arguments (a file, -k ...) pytest runs as asked, in one process.
        [ $# -eq 0 ] && set -- -n 6 --dist loadfile --no-loadscope-reorder
        # Bytecode kept for the run: an environment with PYTHONDONTWRITEBYTECODE set (this
        # CI's is) otherwise has every `monitord` a test starts (~950 in the suite) compile
        # the project's ~100 modules again (~0.13 s of CPU each, a tenth of the suite's
        # CPU) and each worker recompile the test files. Compiled once here, in parallel.
        unset PYTHONDONTWRITEBYTECODE
        .venv/bin/python -m compileall -q -j 0 monitord drivers simulators tests bench >/dev/null
        exec .venv/bin/python -m pytest "$@"
        ;;
    *)
        echo "usage: scripts/setup.sh demo|test [ARGS...]" >&2; exit 2;;
esac
