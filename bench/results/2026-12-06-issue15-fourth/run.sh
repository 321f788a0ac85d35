#!/bin/bash
# before = 8fc1ffb, after = 3d35023, alternating, same suite binary
cd "$(dirname "$0")"
SUITE=/work/targets/bisect/3d35023/rk-bench-suite
for r in before-a after-a after-b before-b before-c after-c; do
  which=${r%-*}
  if [ $which = before ]; then bin=/work/targets/bisect/8fc1ffb/ringkeeper; else bin=/work/targets/bisect/3d35023/ringkeeper; fi
  echo "$(date +%T) start $r load $(cut -d' ' -f1-3 /proc/loadavg)" >> progress.log
  $SUITE --quick --repeat 2 --skip-memory --scenarios serial,throughput,ensemble --ensemble 3 \
     --ringkeeper-bin $bin --work-dir ./work-$r --out ./$r > $r.log 2>&1
  echo "$(date +%T) end $r rc=$? load $(cut -d' ' -f1-3 /proc/loadavg)" >> progress.log
  rm -rf ./work-$r
done
echo done >> progress.log
