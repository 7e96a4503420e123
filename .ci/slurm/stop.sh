#!/usr/bin/env bash
# Stop the daemons that start.sh started, by the PIDs it recorded in STATE_DIR/pids,
# SIGTERM, then SIGKILL after a grace period.
# usage: stop.sh STATE_DIR [--rm]   (--rm also deletes STATE_DIR)
set -uo pipefail

state=${1:?usage: stop.sh STATE_DIR [--rm]}
[[ -d $state/pids ]] || exit 0

# Cancel the jobs still on this cluster first: their slurmstepd processes outlive slurmd.
conf=$state/etc/slurm.conf
ctld_pid=$(cat "$state/pids/slurmctld.pid" 2>/dev/null)
if [[ -f $conf && -n $ctld_pid ]] && kill -0 "$ctld_pid" 2>/dev/null; then
    if [[ -n $(SLURM_CONF=$conf timeout 10 squeue -h -o %i 2>/dev/null) ]]; then
        SLURM_CONF=$conf timeout 10 scancel --user="$(id -un)" 2>/dev/null
        for _ in $(seq 25); do
            [[ -z $(SLURM_CONF=$conf timeout 10 squeue -h -t R,CG -o %i 2>/dev/null) ]] && break
            sleep 0.2
        done
    fi
fi

# The cluster is thrown away, so all daemons get SIGTERM at once (each takes ~2 s to exit);
# whatever still runs after 10 s gets SIGKILL.
declare -A pids=()
for name in slurmd slurmctld slurmdbd mariadbd munged; do
    pidfile=$state/pids/$name.pid
    [[ -f $pidfile ]] || continue
    pid=$(<"$pidfile")
    # Only signal the process if it still is the daemon we started (PIDs get reused).
    if [[ $pid =~ ^[0-9]+$ ]] && [[ $(cat "/proc/$pid/comm" 2>/dev/null) == "$name" ]]; then
        kill -TERM "$pid" 2>/dev/null && pids[$name]=$pid
    fi
done
for _ in $(seq 50); do
    alive=0
    for pid in "${pids[@]}"; do
        kill -0 "$pid" 2>/dev/null && alive=1
    done
    ((alive)) || break
    sleep 0.2
done
for name in "${!pids[@]}"; do
    pid=${pids[$name]}
    if kill -0 "$pid" 2>/dev/null && [[ $(cat "/proc/$pid/comm" 2>/dev/null) == "$name" ]]; then
        echo "$name ($pid) ignored SIGTERM; killing it" >&2
        kill -KILL "$pid" 2>/dev/null
    fi
done
rm -f "$state"/pids/*.pid
rmdir "$state/pids" 2>/dev/null

# The /etc/slurm/slurm.conf link start.sh made, if it still points into this state dir.
if [[ -f $state/system_conf_link ]]; then
    link=$(<"$state/system_conf_link")
    if [[ -L $link && $(readlink "$link") == "$state"/* ]]; then
        rm -f "$link"
    fi
    rm -f "$state/system_conf_link"
fi

if [[ ${2:-} == --rm ]]; then
    rm -rf "$state"
fi
