#!/usr/bin/env bash
# Starts and stops one standalone server for the CI stages.
#
#   ci/server.sh start DIR [HOST PORT]   prints HOST:PORT once `ruok` answers `imok`
#   ci/server.sh stop DIR                SIGTERM, then SIGKILL after RK_STOP_TIMEOUT
#
# DIR receives zoo.cfg, data/, server.log, pid and addr. Without HOST and PORT
# a free 127.0.0.x:port is chosen. RK_TARGET=apache starts Debian's Apache
# ZooKeeper (ZooKeeperServerMain) instead of target/release/ringkeeper.
# RK_SERVER_EXTRA_CFG adds zoo.cfg lines; RK_SERVER_PROPS adds "key=value"
# system properties, which ringkeeper takes as `-D key=value` and Java as
# `-Dkey=value`.
set -euo pipefail

# shellcheck source=ci/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

RK_START_TIMEOUT="${RK_START_TIMEOUT:-30}"
RK_STOP_TIMEOUT="${RK_STOP_TIMEOUT:-10}"

usage() {
    echo "usage: $0 start DIR [HOST PORT] | stop DIR" >&2
    exit 2
}

write_config() {
    local dir="$1" host="$2" port="$3"
    mkdir -p "$dir/data"
    # The admin server is switched off because Apache's would otherwise claim
    # port 8080, which two stages running at once would fight over.
    cat >"$dir/zoo.cfg" <<EOF
tickTime=2000
initLimit=10
syncLimit=5
dataDir=$dir/data
clientPort=$port
clientPortAddress=$host
maxClientCnxns=0
admin.enableServer=false
4lw.commands.whitelist=*
${RK_SERVER_EXTRA_CFG:-}
EOF
}

launch() {
    local dir="$1"
    local -a props=()
    local prop
    for prop in ${RK_SERVER_PROPS:-}; do
        props+=("$prop")
    done
    case "$RK_TARGET" in
    ringkeeper)
        local -a args=("$dir/zoo.cfg")
        for prop in "${props[@]}"; do
            args+=(-D "$prop")
        done
        # NO_COLOR keeps terminal colour codes out of the log file.
        NO_COLOR=1 setsid "$RK_BIN" "${args[@]}" </dev/null >"$dir/server.log" 2>&1 &
        ;;
    apache)
        rk_apache_log4j "$dir"
        local -a jprops=()
        for prop in "${props[@]}"; do
            jprops+=("-D$prop")
        done
        setsid java -cp "$RK_APACHE_CLASSPATH" -Dlog4j.configuration="file:$dir/log4j.properties" \
            "${jprops[@]}" org.apache.zookeeper.server.ZooKeeperServerMain "$dir/zoo.cfg" \
            </dev/null >>"$dir/server.log" 2>&1 &
        ;;
    esac
    echo $! >"$dir/pid"
}

wait_ready() {
    local dir="$1" host="$2" port="$3" pid deadline
    pid="$(cat "$dir/pid")"
    deadline=$((SECONDS + RK_START_TIMEOUT))
    while ((SECONDS < deadline)); do
        if ! rk_pid_alive "$pid"; then
            echo "server exited during start-up; last lines of $dir/server.log:" >&2
            tail -n 30 "$dir/server.log" >&2 || true
            return 1
        fi
        # Apache answers ruok while its database is still loading and drops
        # sessions until then, so a srvr that says it is not serving yet means
        # "keep waiting". A server that closes srvr unanswered counts as ready.
        if [[ "$(rk_4lw "$host" "$port" ruok || true)" == "imok" ]] &&
            ! rk_4lw "$host" "$port" srvr | grep -q "not currently serving"; then
            return 0
        fi
        sleep 0.2
    done
    echo "server did not answer ruok with imok on $host:$port within ${RK_START_TIMEOUT}s; last lines of $dir/server.log:" >&2
    tail -n 30 "$dir/server.log" >&2 || true
    stop "$dir"
    return 1
}

start() {
    local dir="$1" host="${2:-}" port="${3:-}"
    rk_check_target
    if [[ -z "$host" || -z "$port" ]]; then
        read -r host port < <(rk_pick_addr)
    fi
    mkdir -p "$dir"
    dir="$(cd "$dir" && pwd)"
    write_config "$dir" "$host" "$port"
    echo "$host:$port" >"$dir/addr"
    launch "$dir"
    wait_ready "$dir" "$host" "$port"
    echo "$host:$port"
}

stop() {
    local dir="$1" pid deadline
    [[ -f "$dir/pid" ]] || return 0
    pid="$(cat "$dir/pid")"
    if rk_pid_alive "$pid"; then
        kill -TERM "$pid" 2>/dev/null || true
        deadline=$((SECONDS + RK_STOP_TIMEOUT))
        while rk_pid_alive "$pid" && ((SECONDS < deadline)); do
            sleep 0.1
        done
        if rk_pid_alive "$pid"; then
            echo "server $pid ignored SIGTERM for ${RK_STOP_TIMEOUT}s; sending SIGKILL" >&2
            kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
    rm -f "$dir/pid"
}

case "${1:-}" in
start)
    [[ $# -eq 2 || $# -eq 4 ]] || usage
    start "$2" "${3:-}" "${4:-}"
    ;;
stop)
    [[ $# -eq 2 ]] || usage
    stop "$2"
    ;;
*)
    usage
    ;;
esac
