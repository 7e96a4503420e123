#!/usr/bin/env bash
# Start a one-node SLURM cluster on this machine, as root, without systemd:
# munged, a private mariadbd on loopback, slurmdbd, slurmctld and slurmd, all with their
# configuration, sockets, logs and state in one fresh directory. The node has one fake GPU
# (gres gpu:fake:1 backed by a symlink to /dev/null) so GPU requests can be scheduled.
#
# usage: start.sh [STATE_DIR]      (default: a new mktemp directory)
# On success the last line of stdout is STATE_DIR. It holds:
#   env.sh        `source` it: exports SLURM_CONF, SLURM_PARTITION, SLURM_ACCOUNT
#   pids/*.pid    one file per daemon, used by stop.sh
#   log/          daemon logs (read them when something fails)
# Stop everything with: stop.sh STATE_DIR (it also runs if this script fails half-way).
# Exit status 3: another test cluster is running on this machine (one at a time).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
state=${1:-$(mktemp -d /tmp/slurm-ci.XXXXXX)}
mkdir -p "$state"
state=$(cd "$state" && pwd)
if [[ -e $state/pids ]]; then
    echo "error: $state already holds a cluster (pids/); stop it or use a new directory" >&2
    exit 1
fi
if [[ $(id -u) -ne 0 ]]; then
    echo "error: the test cluster runs its daemons as root" >&2
    exit 1
fi
chmod 700 "$state"
mkdir -p "$state"/{etc,log,pids,munge,mysql,ctld,spool,run}

# Anything failing from here on stops whatever was already started.
trap 'status=$?; if [[ $status -ne 0 ]]; then
        echo "error: cluster start failed; daemon logs in $state/log" >&2
        tail -n 20 "$state"/log/*.log >&2 2>/dev/null || true
        bash "$here/stop.sh" "$state" >&2 || true
      fi' EXIT

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Wait up to $1 seconds for the command after it to succeed.
wait_for() {
    local limit=$1 start=$SECONDS
    shift
    until "$@" >/dev/null 2>&1; do
        if ((SECONDS - start >= limit)); then
            echo "error: timed out after ${limit}s waiting for: $*" >&2
            return 1
        fi
        sleep 0.2
    done
}

# Start a daemon in the foreground of its own session, detached from our stdio (a caller
# capturing our output must not wait on the daemon), and record its PID.
launch() {
    local name=$1
    shift
    setsid "$@" </dev/null >>"$state/log/$name.out" 2>&1 &
    echo $! >"$state/pids/$name.pid"
}

host=$(hostname -s)
ncpus=$(nproc)
# The node advertises at least 4 CPUs so a GPU job and a CPU job fit side by side on a
# 2-core runner (config_overrides below makes slurmd accept it).
node_cpus=$((ncpus > 4 ? ncpus : 4))
mem_mb=$(awk '/MemTotal/ {print int($2 / 1024)}' /proc/meminfo)
node_mem=$((mem_mb > 16000 ? mem_mb - 2000 : 16000))
ctld_port=$(free_port)
slurmd_port=$(free_port)
dbd_port=$(free_port)
db_port=$(free_port)
db_pass=$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
cluster=ci
partition=debug
account=ci_account

# The executor's job step strips SLURM_* variables (SLURM_CONF too) before its nested
# srun, which then reads the default /etc/slurm/slurm.conf, as on a real cluster. Point
# that at our file, unless the machine already has a SLURM configuration of its own.
conf=$state/etc/slurm.conf
system_conf=/etc/slurm/slurm.conf
if [[ -L $system_conf ]]; then
    # Left by an earlier test cluster: dangling, or its slurmctld is gone (the test was
    # killed) -> stop what is left of it by its recorded PIDs; still running -> refuse.
    other=$(dirname "$(dirname "$(readlink "$system_conf")")")
    other_ctld=$(cat "$other/pids/slurmctld.pid" 2>/dev/null || true)
    if [[ -n $other_ctld && $(cat "/proc/$other_ctld/comm" 2>/dev/null) == slurmctld ]]; then
        echo "error: another test cluster runs from $other; stop it: stop.sh $other" >&2
        exit 3
    fi
    if [[ -d $other/pids ]]; then
        bash "$here/stop.sh" "$other" >&2 || true
    fi
    rm -f "$system_conf"
fi
if [[ -e $system_conf || -L $system_conf ]]; then
    echo "error: $system_conf exists; this test cluster needs that path for itself" >&2
    exit 1
fi
mkdir -p /etc/slurm
ln -s "$conf" "$system_conf"
echo "$system_conf" >"$state/system_conf_link"

# --- munge -------------------------------------------------------------------------------
mungekey --create --keyfile="$state/munge/munge.key" --force
chmod 600 "$state/munge/munge.key"
munge_socket=$state/munge/munge.socket
# --force: munged refuses to run as root otherwise.
launch munged munged --foreground --force --socket="$munge_socket" \
    --key-file="$state/munge/munge.key" --pid-file="$state/run/munged.pid" \
    --log-file="$state/log/munged.log" --seed-file="$state/munge/seed"
wait_for 15 bash -c "munge -n -S '$munge_socket' | unmunge -S '$munge_socket'"

# --- MariaDB for slurmdbd, on loopback only ------------------------------------------------
db_socket=$state/mysql/mysqld.sock
mariadb-install-db --no-defaults --datadir="$state/mysql/data" --user=root \
    --auth-root-authentication-method=socket --skip-test-db >"$state/log/mariadb-install.log" 2>&1
launch mariadbd mariadbd --no-defaults --datadir="$state/mysql/data" --user=root \
    --socket="$db_socket" --port="$db_port" --bind-address=127.0.0.1 \
    --pid-file="$state/run/mariadbd.pid" --log-error="$state/log/mariadbd.log" \
    --innodb-buffer-pool-size=64M --skip-log-bin
wait_for 60 mariadb-admin --no-defaults --socket="$db_socket" ping
mariadb --no-defaults --socket="$db_socket" -u root <<SQL
CREATE USER 'slurm'@'127.0.0.1' IDENTIFIED BY '$db_pass';
GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';
SQL

# --- SLURM configuration -------------------------------------------------------------------
ln -s /dev/null "$state/etc/fake-gpu0" # a GPU device file must exist and not be a regular file
cat >"$state/etc/slurmdbd.conf" <<EOF
AuthType=auth/munge
AuthInfo=socket=$munge_socket
DbdHost=localhost
DbdAddr=127.0.0.1
DbdPort=$dbd_port
SlurmUser=root
LogFile=$state/log/slurmdbd.log
PidFile=$state/run/slurmdbd.pid
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$db_port
StorageUser=slurm
StoragePass=$db_pass
StorageLoc=slurm_acct_db
EOF
chmod 600 "$state/etc/slurmdbd.conf"

cat >"$conf" <<EOF
ClusterName=$cluster
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$munge_socket
CredType=cred/munge
StateSaveLocation=$state/ctld
SlurmdSpoolDir=$state/spool
SlurmctldPidFile=$state/run/slurmctld.pid
SlurmdPidFile=$state/run/slurmd.pid
SlurmctldLogFile=$state/log/slurmctld.log
SlurmdLogFile=$state/log/slurmd.log
# No cgroups in a CI container.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
# Without a default, each job would take all of the node's memory.
DefMemPerCPU=500
GresTypes=gpu
SlurmdParameters=config_overrides
ReturnToService=2
# Keep finished jobs visible to squeue as well as sacct for a while.
MinJobAge=300
SchedulerParameters=defer_batch=0
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStoragePort=$dbd_port
# For slurmdbd traffic the munge socket is given here (AuthInfo covers the rest).
AccountingStoragePass=$munge_socket
AccountingStorageTRES=gres/gpu
JobCompType=jobcomp/none
# The executor tags each job with --comment rule_<name>; keep it for sacct.
AccountingStoreFlags=job_comment
NodeName=$host NodeAddr=127.0.0.1 CPUs=$node_cpus RealMemory=$node_mem Gres=gpu:fake:1 State=UNKNOWN
PartitionName=$partition Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
cat >"$state/etc/gres.conf" <<EOF
AutoDetect=off
NodeName=$host Name=gpu Type=fake File=$state/etc/fake-gpu0
EOF
export SLURM_CONF=$conf
# --- SLURM daemons ---------------------------------------------------------------------------
launch slurmdbd slurmdbd -D
wait_for 60 bash -c "grep -q 'slurmdbd version .* started' '$state/log/slurmdbd.log'"
launch slurmctld slurmctld -D -c -i
launch slurmd slurmd -D -N "$host"
wait_for 60 bash -c "sinfo -h -N -o '%t' | grep -qx idle"

# An account with root as its user, as on a real cluster (the executor validates it).
wait_for 30 bash -c "sacctmgr -n list cluster format=cluster | grep -qw $cluster"
sacctmgr -i add account "$account" cluster="$cluster" >/dev/null
sacctmgr -i add user root account="$account" cluster="$cluster" >/dev/null

cat >"$state/env.sh" <<EOF
export SLURM_CONF=$conf
export SLURM_PARTITION=$partition
export SLURM_ACCOUNT=$account
EOF
trap - EXIT
echo "SLURM test cluster up ($(sinfo -h -N -o '%N %t %G')); state in $state" >&2
echo "$state"
