# shellcheck shell=bash
# Shared helpers for the CI stages under ci/. Source this file; it defines
# functions and variables only and never changes the caller's shell options.
#
# Variables a caller may set before sourcing:
#   RK_TARGET   apache | ringkeeper (default ringkeeper): which server the
#               stages start. "apache" runs Debian's ZooKeeper 3.8 so that every
#               stage can be proven against the reference implementation.
#   RK_BIN      the ringkeeper binary (default target/release/ringkeeper).

RK_ROOT="${RK_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
RK_TARGET="${RK_TARGET:-ringkeeper}"
RK_BIN="${RK_BIN:-$RK_ROOT/target/release/ringkeeper}"

# Debian's zookeeper.jar names most of its dependencies in its manifest, but
# not netty-codec and netty-resolver, which the Netty connection factory kazoo
# asks for needs; log4j and its slf4j binding make the server honour the
# log4j.properties a harness writes, so failures come with a server log.
RK_APACHE_CLASSPATH="${RK_APACHE_CLASSPATH:-/usr/share/java/zookeeper.jar:/usr/share/java/zookeeper-jute.jar:/usr/share/java/netty-codec.jar:/usr/share/java/netty-resolver.jar:/usr/share/java/slf4j-log4j12.jar:/usr/share/java/log4j-1.2.jar}"
RK_ZKCLI="${RK_ZKCLI:-/usr/share/zookeeper/bin/zkCli.sh}"
RK_CLI_MT="${RK_CLI_MT:-/usr/lib/zookeeper/bin/cli_mt}"

rk_log() {
    printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2
}

rk_die() {
    printf 'ERROR: %s\n' "$*" >&2
    exit 1
}

# Prints a stage header so that a long CI log can be scanned by eye.
rk_header() {
    printf '\n==================== %s ====================\n' "$*"
}

# rk_check_target fails early with a useful message instead of letting every
# test of a stage fail on a missing binary.
rk_check_target() {
    case "$RK_TARGET" in
    ringkeeper)
        [[ -x "$RK_BIN" ]] || rk_die "ringkeeper binary $RK_BIN is missing: run 'cargo build --release -p ringkeeper-server' (or set RK_TARGET=apache)"
        ;;
    apache)
        [[ -r /usr/share/java/zookeeper.jar ]] || rk_die "Apache ZooKeeper jars are missing: apt-get install zookeeper"
        command -v java >/dev/null || rk_die "java is missing: apt-get install zookeeper pulls in a JRE"
        ;;
    *)
        rk_die "RK_TARGET must be 'apache' or 'ringkeeper', not '$RK_TARGET'"
        ;;
    esac
}

# rk_4lw HOST PORT WORD prints the server's answer to a four-letter word.
# Bash's /dev/tcp is used because netcat is not installed everywhere.
rk_4lw() {
    local host="$1" port="$2" word="$3"
    # shellcheck disable=SC2016 # The inner script expands its own arguments.
    timeout 5 bash -c '
        exec 3<>"/dev/tcp/$1/$2" || exit 1
        printf "%s" "$3" >&3
        cat <&3
    ' rk_4lw "$host" "$port" "$word" 2>/dev/null
}

# rk_port_free HOST PORT succeeds when nothing is bound to HOST:PORT. Binding
# (rather than connecting) also catches a listener that would refuse us.
rk_port_free() {
    python3 - "$1" "$2" <<'PY' 2>/dev/null
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
try:
    s.bind((sys.argv[1], int(sys.argv[2])))
except OSError:
    sys.exit(1)
finally:
    s.close()
PY
}

# rk_pick_addr prints "HOST PORT": a random 127.0.0.x address and a free port
# in 30000-39999, away from kazoo's 20000+ ports and ZooKeeper's default 2181,
# so that stages never collide with each other or with a stray server.
rk_pick_addr() {
    local host port
    for _ in $(seq 1 50); do
        host="127.0.0.$((RANDOM % 250 + 2))"
        port="$((RANDOM % 10000 + 30000))"
        if rk_port_free "$host" "$port"; then
            printf '%s %s\n' "$host" "$port"
            return 0
        fi
    done
    rk_die "found no free 127.0.0.x port after 50 tries"
}

# rk_apache_log4j DIR writes DIR/log4j.properties, which sends an Apache
# server's log to DIR/server.log (start it with -Dlog4j.configuration=file:DIR/log4j.properties).
rk_apache_log4j() {
    cat >"$1/log4j.properties" <<EOF
log4j.rootLogger=INFO, FILE
log4j.appender.FILE=org.apache.log4j.FileAppender
log4j.appender.FILE.File=$1/server.log
log4j.appender.FILE.layout=org.apache.log4j.PatternLayout
log4j.appender.FILE.layout.ConversionPattern=%d{ISO8601} %-5p [%t:%C{1}@%L] - %m%n
EOF
}

# rk_pid_alive PID succeeds while PID runs. A zombie counts as dead: a server
# whose parent has not reaped it yet has exited all the same.
rk_pid_alive() {
    local pid="$1" state
    kill -0 "$pid" 2>/dev/null || return 1
    # The state is the first field after the parenthesised command name.
    state="$(sed 's/^.*) //' "/proc/$pid/stat" 2>/dev/null | cut -d' ' -f1 || true)"
    [[ "$state" != "Z" ]]
}

# ---- Checks that assert on a client's printed output (zkcli and climt stages) ----
# Each check prints PASS/FAIL with its name; rk_checks_summary STAGE LABEL prints
# "STAGE: N passed, N failed", lists the failures and returns non-zero if any failed.
# RK_CHECK_OUTPUT_FILTER, if set, is a regex of output lines left out when a
# failure quotes what the client printed (zkCli's SLF4J complaints, say).
PASSED=0
FAILED=0
FAILED_NAMES=()

pass() {
    PASSED=$((PASSED + 1))
    printf 'PASS  %s\n' "$1"
}

# fail NAME WHY [OUTPUT]
fail() {
    FAILED=$((FAILED + 1))
    FAILED_NAMES+=("$1")
    printf 'FAIL  %s\n' "$1"
    printf '      %s\n' "$2"
    if [[ -n "${3:-}" ]]; then
        printf '      client output was:\n'
        local line
        while IFS= read -r line; do
            if [[ -n "${RK_CHECK_OUTPUT_FILTER:-}" && "$line" =~ $RK_CHECK_OUTPUT_FILTER ]]; then
                continue
            fi
            printf '      | %s\n' "$line"
        done <<<"$3"
    fi
}

# expect NAME REGEX OUTPUT passes when some output line matches REGEX.
expect() {
    local name="$1" regex="$2" out="$3"
    if grep -Eq -- "$regex" <<<"$out"; then
        pass "$name"
    else
        fail "$name" "expected a line matching /$regex/" "$out"
    fi
}

# expect_not NAME REGEX OUTPUT passes when no output line matches REGEX.
expect_not() {
    local name="$1" regex="$2" out="$3"
    if grep -Eq -- "$regex" <<<"$out"; then
        fail "$name" "expected no line matching /$regex/" "$out"
    else
        pass "$name"
    fi
}

rk_checks_summary() {
    local stage="$1" label="$2"
    echo
    echo "$stage: $PASSED passed, $FAILED failed"
    if ((FAILED > 0)); then
        printf 'failed %s checks:\n' "$label"
        printf '  - %s\n' "${FAILED_NAMES[@]}"
        return 1
    fi
}
