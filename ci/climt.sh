#!/usr/bin/env bash
# Real-client stage: Apache's C client shell, cli_mt (Debian's zookeeper-bin),
# against a freshly started server. It exercises the C library's wire code,
# which differs from the Java client's: its own handshake, its own session
# re-attach (-m id file) and its own watch dispatch.
#
#   RK_TARGET=apache|ringkeeper ci/climt.sh
#
# cli_mt prints everything on stderr. `-c CMD` runs one command and exits when
# its answer arrives; without -c it reads commands from stdin, sends each at
# once (answers come back in order) and closes the session at end of input.
# Its `create` always stores the three bytes "new" with an open ACL, and its
# get, ls and exists always leave a watch. In this multi-threaded build
# `exists` is synchronous: it prints nothing when the node exists and
# "Error <rc> for <path>" otherwise, and it does not end a -c batch, so it is
# only used inside sessions.
set -euo pipefail

# shellcheck source=ci/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

RK_CLI_TIMEOUT="${RK_CLI_TIMEOUT:-20}"
RK_WATCH_WAIT="${RK_WATCH_WAIT:-15}"

[[ -x "$RK_CLI_MT" ]] || rk_die "$RK_CLI_MT is missing: apt-get install zookeeper-bin"

WORK="$(mktemp -d /tmp/rk-climt.XXXXXX)"
SESSION_PID=""
cleanup() {
    if [[ -n "$SESSION_PID" ]]; then
        kill -KILL "$SESSION_PID" 2>/dev/null || true
    fi
    "$RK_ROOT/ci/server.sh" stop "$WORK/server" || true
    if [[ "${RK_KEEP_WORK:-0}" != 1 ]]; then
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT
# A stage killed by its timeout still stops its server: exiting runs the EXIT trap.
trap 'exit 143' TERM INT

rk_header "cli_mt stage (target: $RK_TARGET)"
ADDR="$("$RK_ROOT/ci/server.sh" start "$WORK/server")"
rk_log "server listening on $ADDR"

# batch CMD runs one command in a session of its own.
batch() {
    timeout "$RK_CLI_TIMEOUT" "$RK_CLI_MT" -h "$ADDR" -c "$1" 2>&1 || true
}

# A long-lived session reads commands from a fifo held open on fd 7 and
# writes to $SESSION_OUT, so a test can act from other clients meanwhile.
SESSION_OUT="$WORK/session.out"
sess_open() {
    local fifo="$WORK/session.fifo"
    rm -f "$fifo" "$SESSION_OUT"
    mkfifo "$fifo"
    "$RK_CLI_MT" -h "$ADDR" <"$fifo" >"$SESSION_OUT" 2>&1 &
    SESSION_PID=$!
    exec 7>"$fifo"
}

sess_send() {
    printf '%s\n' "$@" >&7
}

# sess_sync waits until the server has answered every command sent so far:
# it sends a probe for a missing node and waits for that probe's answer. The
# probe is a synchronous call, whose answer the client library delivers only
# after the completions of every earlier request.
MARKER_SEQ=0
sess_sync() {
    local marker deadline
    MARKER_SEQ=$((MARKER_SEQ + 1))
    marker="/rk-climt-marker-$MARKER_SEQ"
    sess_send "exists $marker"
    deadline=$((SECONDS + RK_CLI_TIMEOUT))
    until grep -q "^Error -101 for $marker\$" "$SESSION_OUT" || ((SECONDS >= deadline)); do
        sleep 0.1
    done
    grep -q "^Error -101 for $marker\$" "$SESSION_OUT"
}

# sess_wait_for REGEX waits up to RK_WATCH_WAIT seconds for a session line.
sess_wait_for() {
    local deadline=$((SECONDS + RK_WATCH_WAIT))
    until grep -Eq -- "$1" "$SESSION_OUT" || ((SECONDS >= deadline)); do
        sleep 0.1
    done
    grep -Eq -- "$1" "$SESSION_OUT"
}

# sess_close ends the input: cli_mt then closes its session cleanly.
sess_close() {
    exec 7>&-
    wait "$SESSION_PID" 2>/dev/null || true
    SESSION_PID=""
}

# sess_crash kills the client without a goodbye, leaving its session open on
# the server, as a crashed application would.
sess_crash() {
    kill -KILL "$SESSION_PID" 2>/dev/null || true
    exec 7>&-
    wait "$SESSION_PID" 2>/dev/null || true
    SESSION_PID=""
}

# watch_check NAME WATCH_CMD TRIGGER_CMD EVENT_REGEX
watch_check() {
    local name="$1" watch_cmd="$2" trigger_cmd="$3" event="$4"
    sess_open
    sess_send "$watch_cmd"
    if ! sess_sync; then
        sess_close
        fail "$name" "the session never answered '$watch_cmd'" "$(cat "$SESSION_OUT")"
        return
    fi
    local trigger_out
    trigger_out="$(batch "$trigger_cmd")"
    if sess_wait_for "$event"; then
        sess_close
        pass "$name"
    else
        sess_close
        fail "$name" "expected /$event/ within ${RK_WATCH_WAIT}s of '$trigger_cmd'" \
            "$(cat "$SESSION_OUT")"$'\n'"--- trigger:"$'\n'"$trigger_out"
    fi
}

R=/rk-climt

# --- create, get, set ------------------------------------------------------
out="$(batch "create $R")"
expect "create answers rc 0" "^\[$R\]: rc = 0\$" "$out"
expect "create returns the created path" "name = $R\$" "$out"
expect "create of an existing node is ZNODEEXISTS (-110)" "^\[$R\]: rc = -110\$" "$(batch "create $R")"
out="$(batch "get $R")"
expect "get answers rc 0" "^$R: rc = 0\$" "$out"
expect "get returns the 3 data bytes" "^ value_len = 3\$" "$out"
expect "get returns cli_mt's data" "^new\$" "$out"
expect "a new node has version 0" "version=0	aversion=0" "$out"
out="$(batch "set $R hello")"
expect "set answers rc 0 with a stat" "^$R: rc = 0 Stat:\$" "$out"
expect "set bumps the version" "version=1	aversion=0" "$out"
expect "get sees the new data" "^hello\$" "$(batch "get $R")"

# --- errors ----------------------------------------------------------------------
expect "get of a missing node is ZNONODE (-101)" "^/rk-climt-missing: rc = -101\$" "$(batch "get /rk-climt-missing")"
sess_open
sess_send "exists $R" "exists /rk-climt-missing"
if sess_sync; then
    expect_not "exists of a node succeeds" "Error -?[0-9]+ for $R\$" "$(cat "$SESSION_OUT")"
    expect "exists of a missing node is ZNONODE (-101)" "^Error -101 for /rk-climt-missing\$" "$(cat "$SESSION_OUT")"
else
    fail "exists of a node succeeds" "the session never answered" "$(cat "$SESSION_OUT")"
fi
sess_close
expect "create under a missing parent is ZNONODE (-101)" "^\[/rk-climt-missing/child\]: rc = -101\$" "$(batch "create /rk-climt-missing/child")"
expect "delete of a missing node is ZNONODE (-101)" "^/rk-climt-missing: rc = -101\$" "$(batch "delete /rk-climt-missing")"

# --- children and sequential nodes ----------------------------------------------
expect "create a child" "name = $R/a\$" "$(batch "create $R/a")"
expect "sequential create appends a 10-digit counter" "name = $R/s-[0-9]{10}\$" "$(batch "create +s $R/s-")"
out="$(batch "ls $R")"
expect "ls answers rc 0" "^$R: rc = 0\$" "$out"
expect "ls lists the plain child" "^	a\$" "$out"
expect "ls lists the sequential child" "^	s-[0-9]{10}\$" "$out"
expect "ls2 answers children and the parent's stat" "version=1	aversion=0" "$(batch "ls2 $R")"
expect "delete of a node with children is ZNOTEMPTY (-111)" "^$R: rc = -111\$" "$(batch "delete $R")"
expect "sync answers rc 0" "^\[$R\]: rc = 0\$" "$(batch "sync $R")"

# --- watches ------------------------------------------------------------------------
watch_check "data watch (get) fires on set" "get $R" "set $R again" \
    "^Watcher CHANGED_EVENT state = CONNECTED_STATE for path $R\$"
watch_check "child watch (ls) fires on create" "ls $R" "create $R/b" \
    "^Watcher CHILD_EVENT state = CONNECTED_STATE for path $R\$"
watch_check "exists watch fires on create" "exists /rk-climt-born" "create /rk-climt-born" \
    "^Watcher CREATED_EVENT state = CONNECTED_STATE for path /rk-climt-born\$"
watch_check "exists watch on a node fires on delete" "exists /rk-climt-born" "delete /rk-climt-born" \
    "^Watcher DELETED_EVENT state = CONNECTED_STATE for path /rk-climt-born\$"

# --- ephemerals and session expiry ----------------------------------------------------
# A client killed without closing its session leaves the session open until
# it expires: cli_mt asks for a 30 s timeout. (cli_mt's -m option cannot test
# re-attaching to that session: the 3.8.0 client discards the saved id when it
# reads it back, ZOOKEEPER-4761.)
sess_open
sess_send "create +e $R/eph"
if sess_sync; then
    expect "ephemeral create" "name = $R/eph\$" "$(cat "$SESSION_OUT")"
else
    fail "ephemeral create" "the session never answered" "$(cat "$SESSION_OUT")"
fi
sess_crash
crashed_at=$SECONDS
expect "a crashed client's ephemeral lives on with its session" "^	eph\$" "$(batch "ls $R")"
expired=""
while ((SECONDS - crashed_at < 70)); do
    if ! batch "ls $R" | grep -q "^	eph\$"; then
        expired=$((SECONDS - crashed_at))
        break
    fi
    sleep 2
done
if [[ -z "$expired" ]]; then
    fail "the ephemeral goes when its session expires" "still there 70 s after the client died (timeout 30 s)"
elif ((expired < 20)); then
    fail "the ephemeral goes when its session expires" "gone after ${expired}s, well before the 30 s session timeout"
else
    pass "the ephemeral goes when its session expires (after ${expired}s)"
fi
sess_open
sess_send "create +e $R/eph2"
sess_sync || true
sess_close
expect_not "closing a session removes its ephemeral at once" "^	eph2\$" "$(batch "ls $R")"

# --- authentication ------------------------------------------------------------------
# An unknown scheme is refused with an auth-failed event and the session ends.
sess_open
sess_send "addauth rk-no-such-scheme whatever"
if sess_wait_for "AUTH_FAILED_STATE"; then
    pass "addauth with an unknown scheme is AUTH_FAILED"
else
    fail "addauth with an unknown scheme is AUTH_FAILED" "no AUTH_FAILED_STATE event" "$(cat "$SESSION_OUT")"
fi
sess_crash

# --- deletion ---------------------------------------------------------------------------
for child in $(batch "ls $R" | sed -n 's/^\t//p'); do
    batch "delete $R/$child" >/dev/null
done
expect "delete of an empty node answers rc 0" "^$R: rc = 0\$" "$(batch "delete $R")"
expect_not "the deleted node is gone" "^	rk-climt\$" "$(batch "ls /")"

rk_checks_summary climt "cli_mt"
