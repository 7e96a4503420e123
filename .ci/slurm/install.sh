#!/usr/bin/env bash
# Install the Debian packages of a one-node SLURM test cluster (SLURM 22.05 on bookworm),
# with slurmdbd + MariaDB so that sacct works as on real clusters. Idempotent: does
# nothing when every program is already there. Needs root (apt-get).
set -euo pipefail

needed=(munged slurmctld slurmd slurmdbd sbatch sacct sacctmgr mariadbd mariadb-install-db)
missing=()
for prog in "${needed[@]}"; do
    command -v "$prog" >/dev/null 2>&1 || [[ -x "/usr/sbin/$prog" ]] || missing+=("$prog")
done
if [[ ${#missing[@]} -eq 0 ]]; then
    echo "slurm test cluster packages already installed"
    exit 0
fi
echo "installing SLURM test cluster packages (missing: ${missing[*]})"
if [[ $(id -u) -ne 0 ]]; then
    echo "error: installing packages needs root" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
# Keep maintainer scripts from starting services: the test starts its own daemons.
policy=/usr/sbin/policy-rc.d
created_policy=0
if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod +x "$policy"
    created_policy=1
fi
trap '[[ $created_policy -eq 1 ]] && rm -f "$policy"' EXIT
timeout 300 apt-get update -qq
timeout 600 apt-get install -y -qq --no-install-recommends \
    munge slurm-wlm slurm-client slurmctld slurmd slurmdbd mariadb-server mariadb-client
