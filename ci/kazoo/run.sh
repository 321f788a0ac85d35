#!/usr/bin/env bash
# Real-client stage: kazoo 2.11's own test suite, from the installed wheel,
# against servers started by kazoo's harness through the java shim in
# ci/kazoo/shim: one standalone server by default, or an ensemble.
#
#   RK_TARGET=apache|ringkeeper ci/kazoo/run.sh [extra pytest args]
#   RK_KAZOO_CLUSTER=3 RK_TARGET=... ci/kazoo/run.sh [extra pytest args]
#
# RK_KAZOO_CLUSTER (default 1) is the harness's ZOOKEEPER_CLUSTER_SIZE. With 1,
# tests listed in ci/kazoo/excluded.txt are deselected; with more, the harness
# writes server.N lines and a myid per member (passed through untouched by
# the shim) and ci/kazoo/excluded-cluster.txt lists what stays unsupported.
# RK_KAZOO_SELECTION=ensemble (cluster runs only) runs just the modules that
# stop, restart or move between ensemble members, a quick check before the
# whole suite (RK_KAZOO_SELECTION=all, the default).
set -euo pipefail

KAZOO_DIR_SELF="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=ci/lib.sh
source "$KAZOO_DIR_SELF/../lib.sh"

RK_CI_VENV="${RK_CI_VENV:-/tmp/ringkeeper-ci-venv}"
RK_KAZOO_CLUSTER="${RK_KAZOO_CLUSTER:-1}"
RK_KAZOO_SELECTION="${RK_KAZOO_SELECTION:-all}"
[[ "$RK_KAZOO_CLUSTER" =~ ^[1-9]$ ]] ||
    rk_die "RK_KAZOO_CLUSTER=$RK_KAZOO_CLUSTER: give the number of members, 1 to 9"
if ((RK_KAZOO_CLUSTER == 1)); then
    EXCLUDED="$KAZOO_DIR_SELF/excluded.txt"
    [[ "$RK_KAZOO_SELECTION" == all ]] ||
        rk_die "RK_KAZOO_SELECTION=$RK_KAZOO_SELECTION needs RK_KAZOO_CLUSTER > 1"
    TESTS=(kazoo/tests)
else
    EXCLUDED="$KAZOO_DIR_SELF/excluded-cluster.txt"
    case "$RK_KAZOO_SELECTION" in
    all) TESTS=(kazoo/tests) ;;
    # The tests that stop, restart or move between members (cluster[i] in the
    # suite): host-list updates, request queuing across a member restart, and
    # the connection module (its read-only test stops two of three members).
    ensemble)
        TESTS=(
            kazoo/tests/test_client.py::TestClient::test_update_host_list
            kazoo/tests/test_gevent_handler.py::TestGeventClient::test_update_host_list
            kazoo/tests/test_eventlet_handler.py::TestEventletClient::test_update_host_list
            kazoo/tests/test_client.py::TestClient::test_request_queuing_session_recovered
            kazoo/tests/test_client.py::TestClient::test_request_queuing_session_expired
            kazoo/tests/test_connection.py
        )
        ;;
    *) rk_die "RK_KAZOO_SELECTION=$RK_KAZOO_SELECTION: use all or ensemble" ;;
    esac
fi
# The whole suite takes about 5 minutes on Apache with 2 cores with one
# server (a three-member harness starts three servers for every test class);
# a hung server must not eat the rest of CI's 90 minutes.
if ((RK_KAZOO_CLUSTER == 1)); then
    RK_KAZOO_TIMEOUT="${RK_KAZOO_TIMEOUT:-1800}"
else
    RK_KAZOO_TIMEOUT="${RK_KAZOO_TIMEOUT:-2700}"
fi
# One test never needs more than a couple of minutes, even with restarts.
RK_KAZOO_TEST_TIMEOUT="${RK_KAZOO_TEST_TIMEOUT:-180}"
RK_KAZOO_PORT_OFFSET="${RK_KAZOO_PORT_OFFSET:-20000}"
# A server that cannot start makes every test wait for the harness's five
# 15-second connection attempts; stopping after this many failures keeps such
# a run from eating CI's budget while still showing a representative list.
RK_KAZOO_MAXFAIL="${RK_KAZOO_MAXFAIL:-60}"

rk_header "kazoo 2.11 suite (target: $RK_TARGET, $RK_KAZOO_CLUSTER member(s), tests: $RK_KAZOO_SELECTION)"
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

# Each line of the exclusion list is "<node id>  # reason"; blank lines and
# lines starting with # are comments.
DESELECT=()
while IFS= read -r line || [[ -n "$line" ]]; do
    id="${line%%#*}"
    id="$(echo "$id" | xargs)"
    [[ -n "$id" ]] || continue
    DESELECT+=(--deselect "$id")
done <"$EXCLUDED"
rk_log "deselecting $((${#DESELECT[@]} / 2)) tests listed in ci/kazoo/$(basename "$EXCLUDED")"

export RK_TARGET RK_BIN
export RK_REAL_JAVA="$REAL_JAVA"
export RK_SHIM_LOG="$WORK/shim.log"
# Member logs outlive kazoo's temporary directories (see the shim); a failure
# prints what kazoo's conftest logged about it, the members' last lines included.
export RK_SHIM_MEMBER_LOGS="${RK_SHIM_MEMBER_LOGS:-$WORK/members}"
export PATH="$KAZOO_DIR_SELF/shim:$PATH"
# test_build (run under CI) compares this with the version the server reports
# in `envi`: Debian's Apache is 3.8.0, and ringkeeper reports 3.8.4 unless its
# zoo.cfg says otherwise (server/src/config: default_reported_version).
if [[ "$RK_TARGET" == apache ]]; then
    export ZOOKEEPER_VERSION="${RK_KAZOO_ZK_VERSION:-3.8.0}"
else
    export ZOOKEEPER_VERSION="${RK_KAZOO_ZK_VERSION:-3.8.4}"
fi
export ZOOKEEPER_CLUSTER_SIZE="$RK_KAZOO_CLUSTER"
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
        timeout --kill-after=30 "$RK_KAZOO_TIMEOUT" "$PY" -m pytest "${TESTS[@]}" \
            --rootdir "$SITE" -p no:cacheprovider \
            --timeout "$RK_KAZOO_TEST_TIMEOUT" --maxfail "$RK_KAZOO_MAXFAIL" \
            -q -rfE --junitxml "$WORK/junit.xml" \
            --log-file "$WORK/pytest.log" --log-file-level INFO \
            "--log-file-format=%(asctime)s %(threadName)s %(name)s %(levelname)s %(message)s" \
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
# kazoo's conftest logs each failing test's cluster logs (the last 100 lines of
# every member) at ERROR; with the client's own INFO lines just before them they
# are usually enough to tell a server fault from a client one. Bounded, so a run
# with many failures cannot flood the CI log.
if ((rc != 0)) && [[ -s "$WORK/pytest.log" ]]; then
    echo "kazoo: client and member logs around each failure (from $WORK/pytest.log):" >&2
    grep -B 40 -A 400 'kazoo.tests.conftest ERROR Zookeeper cluster logs:' "$WORK/pytest.log" |
        head -n "${RK_KAZOO_FAILURE_LINES:-3000}" >&2 || true
fi
if ((rc != 0)) && [[ -s "$WORK/shim.log" ]]; then
    echo "last java shim decisions:" >&2
    tail -n 5 "$WORK/shim.log" >&2
fi
exit "$rc"
