#!/bin/sh
# Regenerates apache-3.8.txt: runs a three-member Apache ZooKeeper ensemble (Debian's jars) with
# RecordingMetricsProvider on loopback addresses 127.0.8.1-3, lets it elect a leader and take a
# few writes, then keeps the union of what the members registered, sorted, one "name kind" a line.
# Usage: docs/metrics-reference/record.sh [output]   (needs bash, java, javac and Debian's zookeeper)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here/apache-3.8.txt}
work=$(mktemp -d)
cp=/usr/share/java/zookeeper.jar:/usr/share/java/slf4j-simple.jar:$work/classes
javac -d "$work/classes" -cp /usr/share/java/zookeeper.jar "$here/RecordingMetricsProvider.java"
pids=
for id in 1 2 3; do
    mkdir -p "$work/$id"
    echo $id > "$work/$id/myid"
    cat > "$work/$id/zoo.cfg" <<CFG
tickTime=500
initLimit=10
syncLimit=5
dataDir=$work/$id
clientPortAddress=127.0.8.$id
clientPort=2181
admin.enableServer=false
4lw.commands.whitelist=*
metricsProvider.className=RecordingMetricsProvider
metricsProvider.out=$work/$id/recorded.txt
server.1=127.0.8.1:2888:3888
server.2=127.0.8.2:2888:3888
server.3=127.0.8.3:2888:3888
CFG
    java -cp "$cp" org.apache.zookeeper.server.quorum.QuorumPeerMain "$work/$id/zoo.cfg" \
        > "$work/$id/log" 2>&1 &
    pids="$pids $!"
done
# Wait for a quorum, then write once so the request paths have run.
i=0
until bash -c 'exec 3<>/dev/tcp/127.0.8.1/2181; printf srvr >&3; cat <&3' 2>/dev/null | grep -q Mode; do
    i=$((i + 1)); [ $i -lt 60 ] || { echo "no quorum; logs in $work" >&2; kill $pids; exit 1; }
    sleep 1
done
java -cp "$cp" org.apache.zookeeper.ZooKeeperMain -server 127.0.8.1:2181 create /recorded x \
    > /dev/null 2>&1 || true
sleep 2
kill $pids
wait 2>/dev/null || true
{
    echo "# Metrics $(java -cp "$cp" org.apache.zookeeper.version.VersionInfoMain | cut -d' ' -f1-4)"
    echo "# registers, recorded by docs/metrics-reference/record.sh"
    echo "# from a three-member ensemble (standalone registers a subset). Format: name kind."
    cat "$work"/*/recorded.txt | sort -u
} > "$out"
rm -rf "$work"
echo "wrote $out ($(grep -vc '^#' "$out") metrics)"
