#!/usr/bin/env bash
# Stop the daemons that start.sh started, by the PIDs it recorded in STATE_DIR/pids,
# in reverse start order: SIGTERM, then SIGKILL after a grace period.
# usage: stop.sh STATE_DIR [--rm]   (--rm also deletes STATE_DIR)
set -uo pipefail

state=${1:?usage: stop.sh STATE_DIR [--rm]}
[[ -d $state/pids ]] || exit 0

for name in slurmd slurmctld slurmdbd mariadbd munged; do
    pidfile=$state/pids/$name.pid
    [[ -f $pidfile ]] || continue
    pid=$(<"$pidfile")
    # Only signal the process if it still is the daemon we started (PIDs get reused).
    if [[ $pid =~ ^[0-9]+$ ]] && [[ $(cat "/proc/$pid/comm" 2>/dev/null) == "$name" ]]; then
        kill -TERM "$pid" 2>/dev/null
        for _ in $(seq 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.2
        done
        if kill -0 "$pid" 2>/dev/null; then
            echo "$name ($pid) ignored SIGTERM; killing it" >&2
            kill -KILL "$pid" 2>/dev/null
        fi
    fi
    rm -f "$pidfile"
done
rmdir "$state/pids" 2>/dev/null

if [[ ${2:-} == --rm ]]; then
    rm -rf "$state"
fi
