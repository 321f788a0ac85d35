#!/bin/bash
# CPU per write of a standalone ringkeeper, by thread (docs/benchmarks.md, "Issue 15
# acceptance: CPU per write of a standalone server").
#
#   cpu-per-write.sh LABEL RINGKEEPER_BIN WRITES CLIENTS [record]
#
# Starts RINGKEEPER_BIN from a fresh data directory (the suite's zoo.cfg, forceSync=yes),
# warms it with 20000 setData, then runs WRITES setData of 100 bytes over 1000 keys
# (CLIENTS connections x 4 in flight) under `perf stat -e task-clock --per-thread` (or
# `perf record -g` with "record") and prints the task-clock per write of each thread.
# RK_LOAD names the rk-load binary (default: rk-load in PATH); WORK the scratch directory.
set -u
label=$1; bin=$2; n=$3; c=$4; rec=${5:-}
LOAD=${RK_LOAD:-rk-load}
d=${WORK:-/tmp/cpu-per-write}/$label; rm -rf "$d"; mkdir -p "$d/data"
port=$((20000 + RANDOM % 20000))
cat > "$d/zoo.cfg" <<CFG
tickTime=2000
initLimit=10
syncLimit=5
dataDir=$d/data
clientPort=$port
clientPortAddress=127.0.0.1
maxClientCnxns=0
admin.enableServer=false
4lw.commands.whitelist=*
forceSync=yes
CFG
ruok() {
    exec 3<>"/dev/tcp/127.0.0.1/$port" || return 1
    printf ruok >&3
    timeout 2 cat <&3 | grep -q imok
}
"$bin" "$d/zoo.cfg" > "$d/server.log" 2>&1 &
spid=$!
for _ in $(seq 100); do (ruok 2>/dev/null) && break; sleep 0.1; done
kill -0 $spid 2>/dev/null || { echo "$label: server did not start (see $d/server.log)"; exit 1; }
args=(--hosts "127.0.0.1:$port" -c "$c" --in-flight 4 --mix setData=1 --keys 1000 --warmup 0s -q)
"$LOAD" "${args[@]}" --requests 20000 > "$d/warm.txt" 2>&1
if [ "$rec" = record ]; then
    perf record -g -o "$d/perf.data" -p $spid 2> "$d/perf-rec.err" &
else
    perf stat -e task-clock --per-thread -p $spid -x, -o "$d/stat.csv" &
fi
ppid=$!
sleep 0.3
"$LOAD" "${args[@]}" --no-setup --requests "$n" > "$d/load.txt" 2>&1
kill -INT $ppid; wait $ppid
kill $spid; wait $spid 2>/dev/null
[ -f "$d/stat.csv" ] || exit 0
python3 - "$d/stat.csv" "$n" "$label" "$d/load.txt" <<'PY'
import collections, re, sys
f, n, label, load = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
per = collections.Counter()
for line in open(f):
    c = line.strip().split(',')
    if len(c) < 4 or line.startswith('#') or c[3] != 'task-clock':
        continue
    try:
        per[c[0].rsplit('-', 1)[0].rstrip('0123456789-')] += float(c[1])
    except ValueError:  # '<not counted>': a thread that did not run
        pass
us = {k: v / n * 1000 for k, v in per.items()}
m = re.search(r'setData\s+\d+\s+([\d.]+)', open(load).read())
threads = ' '.join('%s:%.2f' % kv for kv in sorted(us.items(), key=lambda kv: -kv[1]) if kv[1] > 0.05)
print('%s cpu_us/w %.2f | ops/s %s | %s' % (label, sum(us.values()), m.group(1) if m else '?', threads))
PY
