#!/usr/bin/env bash
# Real-client stage: kazoo 2.11's own test suite, from the installed wheel,
# against one standalone server started by kazoo's harness through the java
# shim in ci/kazoo/shim.
#
#   RK_TARGET=apache|ringkeeper ci/kazoo/run.sh [extra pytest args]
#
# Needs the venv made by ci/install-deps.sh (RK_CI_VENV). Tests listed in
# ci/kazoo/excluded.txt are deselected; every other test runs.
set -euo pipefail

KAZOO_DIR_SELF="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=ci/lib.sh
source "$KAZOO_DIR_SELF/../lib.sh"

RK_CI_VENV="${RK_CI_VENV:-/tmp/ringkeeper-ci-venv}"
# The whole suite takes about 5 minutes on Apache with 2 cores; a hung
# server must not eat the rest of CI's 90 minutes.
RK_KAZOO_TIMEOUT="${RK_KAZOO_TIMEOUT:-1800}"
# One test never needs more than a couple of minutes, even with restarts.
RK_KAZOO_TEST_TIMEOUT="${RK_KAZOO_TEST_TIMEOUT:-180}"
RK_KAZOO_PORT_OFFSET="${RK_KAZOO_PORT_OFFSET:-20000}"
# A server that cannot start makes every test wait for the harness's five
# 15-second connection attempts; stopping after this many failures keeps such
# a run from eating CI's budget while still showing a representative list.
RK_KAZOO_MAXFAIL="${RK_KAZOO_MAXFAIL:-60}"

rk_header "kazoo 2.11 suite (target: $RK_TARGET)"
rk_check_target

PY="$RK_CI_VENV/bin/python"
[[ -x "$PY" ]] || rk_die "no venv at $RK_CI_VENV: run ci/install-deps.sh first"
SITE="$("$PY" -c 'import kazoo, os; print(os.path.dirname(os.path.dirname(kazoo.__file__)))')" ||
    rk_die "kazoo is not installed in $RK_CI_VENV: run ci/install-deps.sh first"
VERSION="$("$PY" -c 'import importlib.metadata as m; print(m.version("kazoo"))')"
[[ "$VERSION" == "2.11.0" ]] || rk_die "kazoo $VERSION is installed; this stage is calibrated for 2.11.0"

REAL_JAVA="$(command -v java)" || rk_die "java is missing: apt-get install zookeeper pulls in a JRE"

WORK="$(mktemp -d /tmp/rk-kazoo.XXXXXX)"
# shellcheck disable=SC2317 # Called by the EXIT trap.
cleanup() {
    if [[ "${RK_KEEP_WORK:-0}" != 1 ]]; then
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT
trap 'exit 143' TERM INT

# TestSessionCallbacks builds a KazooClient with the default hosts,
# 127.0.0.1:2181, and expects nothing to answer there.
if ! rk_port_free 127.0.0.1 2181; then
    echo "WARNING: something listens on 127.0.0.1:2181; one kazoo test expects nothing there" >&2
fi

# Each line of excluded.txt is "<node id>  # reason"; blank lines and lines
# starting with # are comments.
DESELECT=()
while IFS= read -r line || [[ -n "$line" ]]; do
    id="${line%%#*}"
    id="$(echo "$id" | xargs)"
    [[ -n "$id" ]] || continue
    DESELECT+=(--deselect "$id")
done <"$KAZOO_DIR_SELF/excluded.txt"
rk_log "deselecting $((${#DESELECT[@]} / 2)) tests listed in ci/kazoo/excluded.txt"

export RK_TARGET RK_BIN
export RK_REAL_JAVA="$REAL_JAVA"
export RK_SHIM_LOG="$WORK/shim.log"
export PATH="$KAZOO_DIR_SELF/shim:$PATH"
# test_build (run under CI) compares this with the version the server reports
# in `envi`: Debian's Apache is 3.8.0, and ringkeeper reports 3.8.4 unless its
# zoo.cfg says otherwise (server/src/config: default_reported_version).
if [[ "$RK_TARGET" == apache ]]; then
    export ZOOKEEPER_VERSION="${RK_KAZOO_ZK_VERSION:-3.8.0}"
else
    export ZOOKEEPER_VERSION="${RK_KAZOO_ZK_VERSION:-3.8.4}"
fi
export ZOOKEEPER_CLUSTER_SIZE=1
export ZOOKEEPER_PORT_OFFSET="$RK_KAZOO_PORT_OFFSET"
# The harness only reads the class path to build the java command line; with
# RK_TARGET=ringkeeper the shim ignores it.
export ZOOKEEPER_CLASSPATH="$RK_APACHE_CLASSPATH"
unset ZOOKEEPER_PATH ZOOKEEPER_JAAS_AUTH
# kazoo's tests read CI to decide a few skips (test_build runs only under CI
# and compares the server's `envi` version with ZOOKEEPER_VERSION); set it
# always so that a local run and a CI run execute the same tests.
export CI=true

# Node ids in excluded.txt are relative to site-packages, so pytest runs from
# there; the cache plugin is off so that nothing is written into the venv.
set +e
(
    cd "$SITE" &&
        timeout --kill-after=30 "$RK_KAZOO_TIMEOUT" "$PY" -m pytest kazoo/tests \
            --rootdir "$SITE" -p no:cacheprovider \
            --timeout "$RK_KAZOO_TEST_TIMEOUT" --maxfail "$RK_KAZOO_MAXFAIL" \
            -q -rfE --junitxml "$WORK/junit.xml" \
            "${DESELECT[@]}" "$@"
)
rc=$?
set -e

if [[ -f "$WORK/junit.xml" ]]; then
    read -r total failures errors skipped < <("$PY" - "$WORK/junit.xml" <<'PY'
import sys
import xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
suites = [root] if root.tag == "testsuite" else list(root)
get = lambda k: sum(int(s.get(k, 0)) for s in suites)
print(get("tests"), get("failures"), get("errors"), get("skipped"))
PY
    )
    passed=$((total - failures - errors - skipped))
    echo "kazoo: $passed passed, $((failures + errors)) failed, $skipped skipped"
fi

case "$rc" in
0) ;;
124 | 137) echo "kazoo: the suite hit its ${RK_KAZOO_TIMEOUT}s limit" >&2 ;;
5) echo "kazoo: pytest collected no test" >&2 ;;
*) echo "kazoo: pytest exited with $rc" >&2 ;;
esac
if ((rc != 0)) && [[ -s "$WORK/shim.log" ]]; then
    echo "last java shim decisions:" >&2
    tail -n 5 "$WORK/shim.log" >&2
fi
exit "$rc"
