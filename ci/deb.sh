#!/usr/bin/env bash
# Package stage: builds the Debian package (packaging/deb/build.sh), installs it
# with dpkg -i, checks what it installed, starts the installed binary on the
# installed /etc/ringkeeper/zoo.cfg as the ringkeeper user the way the systemd
# unit does (there is no systemd in CI: runuser, the unit's User and ExecStart),
# runs zkCli.sh against it, stops it, then removes and purges the package.
#
# The client address is moved to a free 127.0.0.x port with the --client-port*
# flags, which override only that of the installed zoo.cfg, so that the stage
# never takes port 2181 (a kazoo stage needs it) or collides with a server
# already running there. Everything the stage creates is undone on exit: the
# server, the package, and the ringkeeper user if it did not exist before.
#
#   ci/deb.sh      (as root, or with password-less sudo)
set -euo pipefail

# shellcheck source=ci/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

RK_CLI_TIMEOUT="${RK_CLI_TIMEOUT:-30}"
RK_START_TIMEOUT="${RK_START_TIMEOUT:-30}"
RK_STOP_TIMEOUT="${RK_STOP_TIMEOUT:-15}"
UNIT=/lib/systemd/system/ringkeeper.service

SUDO=()
if [[ "$(id -u)" != 0 ]]; then
    sudo -n true 2>/dev/null || rk_die "the deb stage installs a package: run it as root or with password-less sudo"
    SUDO=(sudo -n)
fi
[[ -x "$RK_ZKCLI" ]] || rk_die "$RK_ZKCLI is missing: apt-get install zookeeper"
if dpkg-query -W -f='${Status}' ringkeeper 2>/dev/null | grep -q "ok installed"; then
    rk_die "a ringkeeper package is already installed; the stage will not replace it"
fi
USER_EXISTED=0
getent passwd ringkeeper >/dev/null && USER_EXISTED=1

WORK="$(mktemp -d /tmp/rk-deb.XXXXXX)"
SERVER_PID=""
INSTALLED=0
cleanup() {
    if [[ -n "$SERVER_PID" ]] && rk_pid_alive "$SERVER_PID"; then
        "${SUDO[@]}" kill -TERM "$SERVER_PID" 2>/dev/null || true
        sleep 1
        "${SUDO[@]}" kill -KILL "$SERVER_PID" 2>/dev/null || true
    fi
    if ((INSTALLED)); then
        "${SUDO[@]}" dpkg --purge ringkeeper >/dev/null 2>&1 || true
    fi
    if ((!USER_EXISTED)) && getent passwd ringkeeper >/dev/null; then
        "${SUDO[@]}" userdel ringkeeper 2>/dev/null || true
        "${SUDO[@]}" groupdel ringkeeper 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 143' TERM INT

rk_header "deb stage"
# In CI the build stage has built the server already; cargo only adds the tools.
DEB="$(bash "$RK_ROOT/packaging/deb/build.sh" "$WORK")"
rk_log "built $DEB"
CONTENTS="$(dpkg-deb --contents "$DEB")"
for path in ./usr/bin/ringkeeper ./usr/bin/rk-import ./usr/bin/rk-inspect ./usr/bin/rk-export \
    ./usr/bin/rk-cli ./lib/systemd/system/ringkeeper.service ./etc/ringkeeper/zoo.cfg \
    ./var/lib/ringkeeper/; do
    expect "the package holds $path" " ${path//./\\.}\$" "$CONTENTS"
done
expect "zoo.cfg is a conffile" '^/etc/ringkeeper/zoo\.cfg$' \
    "$(dpkg-deb --ctrl-tarfile "$DEB" | tar -xO ./conffiles)"

"${SUDO[@]}" dpkg -i "$DEB" >"$WORK/install.log" 2>&1 || {
    cat "$WORK/install.log" >&2
    rk_die "dpkg -i failed"
}
INSTALLED=1
expect "dpkg lists the package as installed" 'install ok installed' \
    "$(dpkg-query -W -f='${Status}\n' ringkeeper)"
expect "postinst created the ringkeeper system user" '^ringkeeper:' "$(getent passwd ringkeeper || true)"
expect "the data directory belongs to it" '^ringkeeper:ringkeeper 750$' \
    "$(stat -c '%U:%G %a' /var/lib/ringkeeper)"

# Start it as the unit would: its User and Group, its WorkingDirectory, its
# ExecStart. setpriv execs in place, so the pid is the server's.
unit_value() { sed -n "s/^$1=//p" "$UNIT" | head -n 1; }
RUN_AS="$(unit_value User)"
RUN_GROUP="$(unit_value Group)"
read -r -a EXEC <<<"$(unit_value ExecStart)"
read -r HOST PORT < <(rk_pick_addr)
rk_log "starting '${EXEC[*]}' as $RUN_AS on $HOST:$PORT"
(cd "$(unit_value WorkingDirectory)" &&
    exec "${SUDO[@]}" env NO_COLOR=1 RINGKEEPER_LOG=info \
        setpriv --reuid="$RUN_AS" --regid="$RUN_GROUP" --init-groups -- \
        "${EXEC[@]}" --client-port-address "$HOST" --client-port "$PORT" \
        </dev/null >"$WORK/server.log" 2>&1) &
SERVER_PID=$!
deadline=$((SECONDS + RK_START_TIMEOUT))
until [[ "$(rk_4lw "$HOST" "$PORT" ruok || true)" == imok ]]; do
    if ! rk_pid_alive "$SERVER_PID" || ((SECONDS >= deadline)); then
        tail -n 30 "$WORK/server.log" >&2
        rk_die "the installed server did not answer ruok on $HOST:$PORT"
    fi
    sleep 0.2
done
expect "the server runs as the ringkeeper user" '^ringkeeper$' "$(stat -c %U "/proc/$SERVER_PID")"

cli() { timeout "$RK_CLI_TIMEOUT" "$RK_ZKCLI" -server "$HOST:$PORT" "$@" 2>&1 || true; }
expect "zkCli.sh creates a znode" '^Created /deb$' "$(cli create /deb hello)"
expect "zkCli.sh reads it back" '^hello$' "$(cli get /deb)"
expect "zkCli.sh lists it" '^\[deb, zookeeper\]$' "$(cli ls /)"
expect "the data lands in /var/lib/ringkeeper, owned by ringkeeper" '^ringkeeper$' \
    "$(stat -c '%U' /var/lib/ringkeeper/ringkeeper-v1)"

"${SUDO[@]}" kill -TERM "$SERVER_PID" 2>/dev/null || true
deadline=$((SECONDS + RK_STOP_TIMEOUT))
while rk_pid_alive "$SERVER_PID" && ((SECONDS < deadline)); do sleep 0.1; done
STOPPED="$(rk_pid_alive "$SERVER_PID" && echo running || echo stopped)"
wait "$SERVER_PID" 2>/dev/null || true
expect "SIGTERM stopped it" '^stopped$' "$STOPPED"
expect "it logged a clean stop" 'stopping' "$(cat "$WORK/server.log")"
SERVER_PID=""

"${SUDO[@]}" dpkg --remove ringkeeper >/dev/null
expect "remove takes the binary" '^gone$' "$([[ -e /usr/bin/ringkeeper ]] && echo there || echo gone)"
expect "remove keeps the conffile" '^kept$' "$([[ -e /etc/ringkeeper/zoo.cfg ]] && echo kept || echo gone)"
"${SUDO[@]}" dpkg --purge ringkeeper >/dev/null
INSTALLED=0
expect "purge takes the config" '^gone$' "$([[ -e /etc/ringkeeper ]] && echo there || echo gone)"
expect "purge takes the data" '^gone$' "$([[ -e /var/lib/ringkeeper ]] && echo there || echo gone)"
# Nothing listens there any more. (Binding it could still fail for a while: the
# kernel keeps closed connections in TIME_WAIT, and tears an exited process's
# io_uring sockets down asynchronously.)
listening() { timeout 2 bash -c 'exec 3<>"/dev/tcp/$1/$2"' listening "$HOST" "$PORT" 2>/dev/null; }
deadline=$((SECONDS + RK_STOP_TIMEOUT))
while listening && ((SECONDS < deadline)); do sleep 0.2; done
expect "nothing listens on $HOST:$PORT any more" '^closed$' "$(listening && echo open || echo closed)"

rk_checks_summary "deb stage" deb
