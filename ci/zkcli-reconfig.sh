#!/usr/bin/env bash
# Real-client stage: dynamic reconfiguration from Apache's zkCli.sh against a
# freshly started 3-member ensemble (issue 14: "zkCli.sh scripts in CI do
# reconfig -add, reconfig -remove and config"). Every check runs the real
# client and asserts on what it prints, as an operator would read it.
#
#   RK_TARGET=apache|ringkeeper ci/zkcli-reconfig.sh
#
# The members run on three 127.0.0.x addresses with the same three ports each
# (client, quorum, election), reconfigEnabled=true and a super digest. The
# script removes a follower, checks that the others show and serve the
# two-member configuration, then adds the same server back (still running, it
# reconnects as a joiner; adding a server the ensemble was not started with is
# server/tests/ensemble.rs's joiners_are_added_... test).
set -euo pipefail

# shellcheck source=ci/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

RK_CLI_TIMEOUT="${RK_CLI_TIMEOUT:-30}"
# How long the ensemble may take to elect and serve, and a removal or an
# addition to show on every member.
RK_ENSEMBLE_TIMEOUT="${RK_ENSEMBLE_TIMEOUT:-60}"
RK_STOP_TIMEOUT="${RK_STOP_TIMEOUT:-10}"

[[ -x "$RK_ZKCLI" ]] || rk_die "$RK_ZKCLI is missing: apt-get install zookeeper"
rk_check_target

WORK="$(mktemp -d /tmp/rk-zkcli-reconfig.XXXXXX)"
MEMBERS=(1 2 3)
declare -A HOST

cleanup() {
    local id pid deadline
    for id in "${MEMBERS[@]}"; do
        [[ -f "$WORK/$id/pid" ]] || continue
        pid="$(cat "$WORK/$id/pid")"
        kill -TERM "$pid" 2>/dev/null || true
        deadline=$((SECONDS + RK_STOP_TIMEOUT))
        while rk_pid_alive "$pid" && ((SECONDS < deadline)); do
            sleep 0.1
        done
        kill -KILL "$pid" 2>/dev/null || true
    done
    if [[ "${RK_KEEP_WORK:-0}" != 1 ]]; then
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT
trap 'exit 143' TERM INT

RK_CHECK_OUTPUT_FILTER='^SLF4J'
rk_header "zkCli reconfig stage (target: $RK_TARGET)"

# Three distinct hosts that all have the three ports free.
pick_ports() {
    local try id host
    for try in $(seq 1 50); do
        PORT="$((RANDOM % 9000 + 30000))"
        local ok=1
        HOST=()
        for id in "${MEMBERS[@]}"; do
            host="127.0.0.$((RANDOM % 250 + 2))"
            if [[ " ${HOST[*]} " == *" $host "* ]] ||
                ! rk_port_free "$host" "$PORT" ||
                ! rk_port_free "$host" $((PORT + 1)) ||
                ! rk_port_free "$host" $((PORT + 2)); then
                ok=0
                break
            fi
            HOST[$id]="$host"
        done
        ((ok)) && return 0
    done
    rk_die "found no free 127.0.0.x ports for three members after 50 tries"
}

# server_line ID: the member's line as Apache prints it in /zookeeper/config.
server_line() {
    local id="$1"
    printf 'server.%s=%s:%s:%s:participant;%s:%s' "$id" "${HOST[$id]}" $((PORT + 1)) $((PORT + 2)) "${HOST[$id]}" "$PORT"
}

SUPER_PASSWORD=rk-super-secret
SUPER_DIGEST="super:$(printf 'super:%s' "$SUPER_PASSWORD" | openssl dgst -binary -sha1 | openssl base64)"

start_member() {
    local id="$1" dir="$WORK/$1" other
    mkdir -p "$dir/data"
    echo "$id" >"$dir/data/myid"
    {
        echo "tickTime=1000"
        echo "initLimit=10"
        echo "syncLimit=5"
        echo "dataDir=$dir/data"
        echo "clientPort=$PORT"
        echo "clientPortAddress=${HOST[$id]}"
        echo "admin.enableServer=false"
        echo "4lw.commands.whitelist=*"
        echo "reconfigEnabled=true"
        echo "standaloneEnabled=false"
        for other in "${MEMBERS[@]}"; do
            server_line "$other"
            echo
        done
    } >"$dir/zoo.cfg"
    case "$RK_TARGET" in
    ringkeeper)
        NO_COLOR=1 setsid "$RK_BIN" "$dir/zoo.cfg" \
            -D "zookeeper.DigestAuthenticationProvider.superDigest=$SUPER_DIGEST" \
            </dev/null >"$dir/server.log" 2>&1 &
        ;;
    apache)
        rk_apache_log4j "$dir"
        setsid java -Xmx256m -cp "$RK_APACHE_CLASSPATH" -Dlog4j.configuration="file:$dir/log4j.properties" \
            "-Dzookeeper.DigestAuthenticationProvider.superDigest=$SUPER_DIGEST" \
            org.apache.zookeeper.server.quorum.QuorumPeerMain "$dir/zoo.cfg" \
            </dev/null >>"$dir/server.log" 2>&1 &
        ;;
    esac
    echo $! >"$dir/pid"
}

# mode ID prints the member's srvr Mode (leader, follower) or nothing.
mode() {
    rk_4lw "${HOST[$1]}" "$PORT" srvr 2>/dev/null | sed -n 's/^Mode: //p' || true
}

# wait_for NAME SECONDS COMMAND... retries COMMAND until it succeeds.
wait_for() {
    local name="$1" secs="$2" deadline
    shift 2
    deadline=$((SECONDS + secs))
    until "$@"; do
        if ((SECONDS >= deadline)); then
            return 1
        fi
        sleep 0.5
    done
}

all_serving() {
    local id leaders=0 m
    for id in "$@"; do
        m="$(mode "$id")"
        case "$m" in
        leader) leaders=$((leaders + 1)) ;;
        follower) ;;
        *) return 1 ;;
        esac
    done
    ((leaders == 1))
}

cli() {
    local id="$1"
    shift
    timeout "$RK_CLI_TIMEOUT" "$RK_ZKCLI" -server "${HOST[$id]}:$PORT" "$@" 2>&1 || true
}

cli_session() {
    timeout "$RK_CLI_TIMEOUT" "$RK_ZKCLI" -server "${HOST[$1]}:$PORT" 2>&1 || true
}

dump_logs() {
    local id
    for id in "${MEMBERS[@]}"; do
        echo "--- member $id: last lines of its log"
        tail -n 20 "$WORK/$id/server.log" 2>/dev/null || true
    done
}

pick_ports
for id in "${MEMBERS[@]}"; do
    start_member "$id"
done
if ! wait_for "ensemble" "$RK_ENSEMBLE_TIMEOUT" all_serving "${MEMBERS[@]}"; then
    dump_logs
    rk_die "the ensemble did not elect one leader and two followers within ${RK_ENSEMBLE_TIMEOUT}s"
fi
LEADER=""
FOLLOWERS=()
for id in "${MEMBERS[@]}"; do
    if [[ "$(mode "$id")" == leader ]]; then
        LEADER="$id"
    else
        FOLLOWERS+=("$id")
    fi
done
GONE="${FOLLOWERS[1]}"
ASK="${FOLLOWERS[0]}"
rk_log "ensemble on port $PORT: leader $LEADER, removing follower $GONE through follower $ASK"

escape() { sed 's/[.]/\\./g' <<<"$1"; }

# --- config shows every member ------------------------------------------------------
out="$(cli "$ASK" config)"
for id in "${MEMBERS[@]}"; do
    expect "config lists member $id as Apache prints it" "^$(escape "$(server_line "$id")")\$" "$out"
done
expect "config ends with its version" "^version=[0-9a-f]+\$" "$out"

expect "a write before the reconfiguration" "^Created /rk-reconfig\$" "$(cli "$LEADER" create /rk-reconfig before)"

# --- reconfig needs super -------------------------------------------------------------
expect "reconfig without super is refused" "Insufficient permission|NoAuth" "$(cli "$ASK" reconfig -remove "$GONE")"

# --- reconfig -remove ---------------------------------------------------------------------
out="$(printf 'addauth digest super:%s\nreconfig -remove %s\nquit\n' "$SUPER_PASSWORD" "$GONE" | cli_session "$ASK")"
expect "reconfig -remove commits" "^Committed new configuration:" "$out"
expect_not "the new configuration leaves the removed member out" "^server\.$GONE=" "$out"
expect "the new configuration keeps the leader" "^$(escape "$(server_line "$LEADER")")\$" "$out"

# listed_on_both yes|no: whether the leader's and the asking follower's config
# both list (yes) or both leave out (no) the member that moves.
listed_on_both() {
    local id listed
    for id in "$LEADER" "$ASK"; do
        listed=no
        if cli "$id" config | grep -q "^server\.$GONE="; then
            listed=yes
        fi
        [[ "$listed" == "$1" ]] || return 1
    done
}
if wait_for "removal" "$RK_ENSEMBLE_TIMEOUT" listed_on_both no; then
    pass "config on the leader and the remaining follower shows the removal"
else
    fail "config on the leader and the remaining follower shows the removal" "server.$GONE still listed after ${RK_ENSEMBLE_TIMEOUT}s" "$(cli "$LEADER" config)"
fi
expect "the two remaining members take writes" "^Created /rk-reconfig/after-remove\$" "$(cli "$ASK" create /rk-reconfig/after-remove x)"
expect "the write is read on the leader" "^x\$" "$(cli "$LEADER" get /rk-reconfig/after-remove)"

# --- reconfig -add ------------------------------------------------------------------------
out="$(printf 'addauth digest super:%s\nreconfig -add %s\nquit\n' "$SUPER_PASSWORD" "$(server_line "$GONE")" | cli_session "$ASK")"
expect "reconfig -add commits" "^Committed new configuration:" "$out"
expect "the new configuration lists the added member" "^$(escape "$(server_line "$GONE")")\$" "$out"
if wait_for "addition" "$RK_ENSEMBLE_TIMEOUT" listed_on_both yes; then
    pass "config on the leader and the follower shows the added member"
else
    fail "config on the leader and the follower shows the added member" "server.$GONE not listed after ${RK_ENSEMBLE_TIMEOUT}s" "$(cli "$LEADER" config)"
fi
expect "writes go on after the addition" "^Created /rk-reconfig/after-add\$" "$(cli "$LEADER" create /rk-reconfig/after-add y)"

# --- a second version check: -members with a stale version is BadVersion --------------------
out="$(printf 'addauth digest super:%s\nreconfig -v 1 -remove %s\nquit\n' "$SUPER_PASSWORD" "$GONE" | cli_session "$ASK")"
expect "reconfig with a stale -v is refused" "BadVersion|version No is not valid" "$out"

if ((FAILED > 0)); then
    dump_logs
fi
rk_checks_summary zkcli-reconfig "zkCli reconfig"
