#!/usr/bin/env bash
# Real-client stage: Apache's Java command-line client (zkCli.sh) against a
# freshly started server. Every check runs the real client and asserts on the
# text it prints, so a wrong error code or a missing watch event shows up here
# exactly as an operator would see it.
#
#   RK_TARGET=apache|ringkeeper ci/zkcli.sh
set -euo pipefail

# shellcheck source=ci/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# One zkCli command is a JVM start plus one request; 30 s is generous.
RK_CLI_TIMEOUT="${RK_CLI_TIMEOUT:-30}"
# How long a watcher session waits for its event before the check fails.
RK_WATCH_WAIT="${RK_WATCH_WAIT:-15}"

[[ -x "$RK_ZKCLI" ]] || rk_die "$RK_ZKCLI is missing: apt-get install zookeeper"

WORK="$(mktemp -d /tmp/rk-zkcli.XXXXXX)"
SESSION_PID=""
cleanup() {
    if [[ -n "$SESSION_PID" ]]; then
        kill "$SESSION_PID" 2>/dev/null || true
    fi
    "$RK_ROOT/ci/server.sh" stop "$WORK/server" || true
    if [[ "${RK_KEEP_WORK:-0}" != 1 ]]; then
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT
# A stage killed by its timeout still stops its server: exiting runs the EXIT trap.
trap 'exit 143' TERM INT

# SLF4J's complaints about missing bindings are noise in every run.
RK_CHECK_OUTPUT_FILTER='^SLF4J'
rk_header "zkCli stage (target: $RK_TARGET)"
ADDR="$("$RK_ROOT/ci/server.sh" start "$WORK/server")"
rk_log "server listening on $ADDR"

# cli ARGS... runs one non-interactive zkCli command and prints its output.
cli() {
    timeout "$RK_CLI_TIMEOUT" "$RK_ZKCLI" -server "$ADDR" "$@" 2>&1 || true
}

# cli_session feeds the commands on stdin to one zkCli session, so that
# commands which depend on the session (auth, ephemerals) share it.
cli_session() {
    timeout "$RK_CLI_TIMEOUT" "$RK_ZKCLI" -server "$ADDR" 2>&1 || true
}

# watch_check NAME WATCH_CMD TRIGGER_CMD EVENT_REGEX keeps one session open
# with WATCH_CMD, runs TRIGGER_CMD from a second client once the watch is
# registered, and expects the first session to print the WatchedEvent.
watch_check() {
    local name="$1" watch_cmd="$2" trigger_cmd="$3" event="$4"
    local fifo="$WORK/watch.fifo" out="$WORK/watch.out" marker deadline
    # A read of a node that does not exist, queued after the watch command,
    # tells us when the server has answered the watch command: commands of a
    # session run in order.
    marker="/rk-zkcli-marker-$RANDOM$RANDOM"
    rm -f "$fifo" "$out"
    mkfifo "$fifo"
    timeout $((RK_CLI_TIMEOUT + RK_WATCH_WAIT)) "$RK_ZKCLI" -server "$ADDR" <"$fifo" >"$out" 2>&1 &
    SESSION_PID=$!
    exec 7>"$fifo"
    printf '%s\nget %s\n' "$watch_cmd" "$marker" >&7
    deadline=$((SECONDS + RK_CLI_TIMEOUT))
    until grep -q "Node does not exist: $marker" "$out" 2>/dev/null || ((SECONDS >= deadline)); do
        sleep 0.2
    done
    if ! grep -q "Node does not exist: $marker" "$out"; then
        exec 7>&-
        wait "$SESSION_PID" 2>/dev/null || true
        SESSION_PID=""
        fail "$name" "the watching session never answered '$watch_cmd'" "$(cat "$out")"
        return
    fi
    local trigger_out
    # shellcheck disable=SC2086 # The trigger command is split into words on purpose.
    trigger_out="$(cli $trigger_cmd)"
    deadline=$((SECONDS + RK_WATCH_WAIT))
    until grep -Eq -- "$event" "$out" || ((SECONDS >= deadline)); do
        sleep 0.2
    done
    printf 'quit\n' >&7
    exec 7>&-
    wait "$SESSION_PID" 2>/dev/null || true
    SESSION_PID=""
    if grep -Eq -- "$event" "$out"; then
        pass "$name"
    else
        fail "$name" "expected /$event/ within ${RK_WATCH_WAIT}s of '$trigger_cmd' (trigger printed: $(grep -v '^SLF4J' <<<"$trigger_out" | tail -n 1))" "$(cat "$out")"
    fi
}

R=/rk-zkcli

# --- create, get, stat, set -------------------------------------------------
expect "create prints Created" "^Created $R\$" "$(cli create $R data1)"
expect "create of an existing node is NodeExists" "^Node already exists: $R\$" "$(cli create $R again)"
expect "get returns the data" "^data1\$" "$(cli get $R)"
out="$(cli stat $R)"
expect "stat shows dataVersion 0" "^dataVersion = 0\$" "$out"
expect "stat shows dataLength 5" "^dataLength = 5\$" "$out"
expect "stat shows an ordinary node (ephemeralOwner 0)" "^ephemeralOwner = 0x0\$" "$out"
expect "set succeeds silently, get sees the new data" "^data22\$" "$(printf 'set %s data22\nget %s\nquit\n' $R $R | cli_session)"
expect "set bumps dataVersion" "^dataVersion = 1\$" "$(cli stat $R)"
expect "set with a stale version is BadVersion" "^version No is not valid : $R\$" "$(cli set -v 7 $R x)"
expect "get -s prints data and stat" "^mZxid = 0x[0-9a-f]+\$" "$(cli get -s $R)"

# --- errors on missing nodes ------------------------------------------------
expect "get of a missing node is NoNode" "^Node does not exist: /rk-missing\$" "$(cli get /rk-missing)"
expect "delete of a missing node is NoNode" "^Node does not exist: /rk-missing\$" "$(cli delete /rk-missing)"
expect "create under a missing parent is NoNode" "^Node does not exist: /rk-missing/child\$" "$(cli create /rk-missing/child x)"

# --- children, sequential, containers -----------------------------------------
expect "create a child" "^Created $R/c1\$" "$(cli create $R/c1 c)"
expect "sequential create appends a 10-digit counter" "^Created $R/seq-[0-9]{10}\$" "$(cli create -s $R/seq- s)"
expect "ls lists the children" "^\[c1, seq-[0-9]{10}\]\$" "$(cli ls $R)"
expect "ls -s shows numChildren" "^numChildren = 2\$" "$(cli ls -s $R)"
expect "getAllChildrenNumber counts descendants" "^2\$" "$(cli getAllChildrenNumber $R)"
expect "delete of a node with children is NotEmpty" "^Node not empty: $R\$" "$(cli delete $R)"
expect "delete with a stale version is BadVersion" "^version No is not valid : $R/c1\$" "$(cli delete -v 5 $R/c1)"
expect "sync answers" "^Sync is OK\$" "$(cli sync $R)"
expect "container create" "^Created /rk-container\$" "$(cli create -c /rk-container)"

# --- ephemerals live as long as their session -----------------------------------
out="$(printf 'create -e %s/eph e\nls %s\ngetEphemerals\nquit\n' $R $R | cli_session)"
expect "ephemeral create" "^Created $R/eph\$" "$out"
expect "ephemeral is listed while its session lives" "^\[c1, eph, seq-[0-9]{10}\]\$" "$out"
expect "getEphemerals lists the session's ephemerals" "^\[$R/eph\]\$" "$out"
expect_not "ephemeral is gone once its session closed" "eph" "$(cli ls $R)"

# --- ACLs and digest auth ---------------------------------------------------------
expect "create with a read-only ACL" "^Created /rk-acl\$" "$(cli create /rk-acl a world:anyone:r)"
expect "write to a read-only node is NoAuth" "^Insufficient permission : /rk-acl\$" "$(cli set /rk-acl b)"
out="$(cli getAcl /rk-acl)"
expect "getAcl shows the scheme and id" "^'world,'anyone\$" "$out"
expect "getAcl shows the permissions" "^: r\$" "$out"
out="$(printf 'addauth digest rkuser:rkpass\ncreate /rk-auth secret auth:rkuser:rkpass:cdrwa\nget /rk-auth\ngetAcl /rk-auth\nquit\n' | cli_session)"
expect "auth ACL create after addauth" "^Created /rk-auth\$" "$out"
expect "the authenticated session reads its node" "^secret\$" "$out"
# The digest is base64(sha1("rkuser:rkpass")), as DigestAuthenticationProvider defines it.
expect "auth ACL is stored as the digest of user:password" "^'digest,'rkuser:$(printf 'rkuser:rkpass' | openssl dgst -binary -sha1 | openssl base64)\$" "$out"
expect "an unauthenticated session is refused" "^Insufficient permission : /rk-auth\$" "$(cli get /rk-auth)"
expect "whoami reports the client's identity" "^ip: 127\.0\.0\.1\$" "$(cli whoami)"

# --- watches ------------------------------------------------------------------------
watch_check "data watch (get -w) fires on set" "get -w $R" "set $R data3" \
    "WatchedEvent state:SyncConnected type:NodeDataChanged path:$R\$"
watch_check "child watch (ls -w) fires on create" "ls -w $R" "create $R/c2 x" \
    "WatchedEvent state:SyncConnected type:NodeChildrenChanged path:$R\$"
watch_check "exists watch (stat -w) fires on create" "stat -w /rk-born" "create /rk-born x" \
    "WatchedEvent state:SyncConnected type:NodeCreated path:/rk-born\$"
watch_check "data watch fires on delete" "get -w /rk-born" "delete /rk-born" \
    "WatchedEvent state:SyncConnected type:NodeDeleted path:/rk-born\$"
watch_check "persistent recursive watch (addWatch) fires for a grandchild" "addWatch -m PERSISTENT_RECURSIVE $R" "create $R/c1/deep x" \
    "WatchedEvent state:SyncConnected type:NodeCreated path:$R/c1/deep\$"
expect "removewatches without a watch is NoWatcher" "No such watcher for $R\$" "$(cli removewatches $R)"

# --- deletion ---------------------------------------------------------------------------
expect "delete of leaves removes them" "^\[c1, seq-[0-9]{10}\]\$" "$(printf 'delete %s/c1/deep\ndelete %s/c2\nls %s\nquit\n' $R $R $R | cli_session)"
cli deleteall $R >/dev/null
expect_not "deleteall removes the whole subtree" "rk-zkcli" "$(cli ls /)"
expect "the /zookeeper system node is listed" "^\[.*zookeeper.*\]\$" "$(cli ls /)"

rk_checks_summary zkcli "zkCli"
