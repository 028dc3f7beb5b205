#!/usr/bin/env bash
# Stop what slurm-up.sh started, by PID (read the pidfiles first: daemons delete them on exit).
D=${SLURM_CI_DIR:-/tmp/slurmci}
pids=$(cat "$D/run/slurmd.pid" "$D/run/slurmctld.pid" /run/munge/munged.pid 2>/dev/null)
[ -n "$pids" ] && kill $pids 2>/dev/null
for _ in $(seq 100); do
  alive=0; for p in $pids; do kill -0 "$p" 2>/dev/null && alive=1; done
  [ $alive = 0 ] && break; sleep 0.1
done
