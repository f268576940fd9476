#!/usr/bin/env bash
# Install (if needed) and start a single-node SLURM cluster with accounting on loopback:
# munged -> private MariaDB -> slurmdbd -> slurmctld -> slurmd, for tests that submit real
# jobs through submitit. Idempotent: if the cluster is already up and healthy it says so
# and exits 0. On failure it exits non-zero and prints the tails of the daemon logs.
# Needs root (Debian 12). See README.md next to this file.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=common.sh
source "$HERE/common.sh"

T0=$(date +%s.%N)
elapsed() { awk -v a="$T0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}'; }

DUMPED=0
dump_logs() {
    local f
    [[ $DUMPED -eq 0 ]] || return 0
    DUMPED=1
    for f in munged mysqld slurmdbd slurmctld slurmd; do
        f=$HS_LOG/$f.log
        [[ -f $f ]] || continue
        printf '\n===== tail -n 30 %s =====\n' "$f" >&2
        tail -n 30 "$f" >&2 || true
    done
}

fail() {
    hs_log "FAILED: $*"
    dump_logs
    exit 1
}

trap 'rc=$?; if [[ $rc -ne 0 && $DUMPED -eq 0 ]]; then hs_log "start.sh failed (rc=$rc)"; dump_logs; fi' EXIT

[[ $(id -u) -eq 0 ]] || { hs_log "must run as root"; exit 2; }

# ---------------------------------------------------------------- packages
PKGS=(munge slurm-wlm slurmdbd mariadb-server)
install_packages() {
    local missing=() p
    for p in "${PKGS[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
    done
    [[ ${#missing[@]} -eq 0 ]] && return 0
    hs_log "installing ${missing[*]} (apt-get)"
    # Keep package scripts from starting the stock daemons: we run private ones below.
    local made_policy=0
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        made_policy=1
    fi
    export DEBIAN_FRONTEND=noninteractive
    local rc=0
    {
        apt-get update -qq &&
            apt-get install -y -qq --no-install-recommends \
                -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "${missing[@]}"
    } >"$HS_LOG/apt.log" 2>&1 || rc=$?
    [[ $made_policy -eq 1 ]] && rm -f /usr/sbin/policy-rc.d
    if [[ $rc -ne 0 ]]; then
        tail -n 40 "$HS_LOG/apt.log" >&2
        fail "apt-get install failed (rc=$rc), full log: $HS_LOG/apt.log"
    fi
}

mkdir -p "$HS_ETC" "$HS_LOG" "$HS_RUN" "$HS_STATE"
install_packages

for b in munged mariadbd mariadb-install-db slurmdbd slurmctld slurmd sbatch sacct sacctmgr; do
    command -v "$b" >/dev/null || fail "$b not found after install"
done

# ---------------------------------------------------------------- configs
# Node line: the hardware topology as slurmd sees it (or CPUs=N when HARNESS_SLURM_CPUS is set).
if [[ -n ${HARNESS_SLURM_CPUS:-} ]]; then
    node_cpus=$HARNESS_SLURM_CPUS
    node_topology="CPUs=$node_cpus"
else
    hw=$(slurmd -C 2>/dev/null | head -n1 || true)
    hw_field() { grep -o "\b$1=[0-9]*" <<<"$hw" | cut -d= -f2; }
    node_cpus=$(hw_field CPUs)
    if [[ -n $node_cpus && -n $(hw_field SocketsPerBoard) && -n $(hw_field CoresPerSocket) && -n $(hw_field ThreadsPerCore) ]]; then
        node_topology="CPUs=$node_cpus Sockets=$(hw_field SocketsPerBoard) CoresPerSocket=$(hw_field CoresPerSocket) ThreadsPerCore=$(hw_field ThreadsPerCore)"
    else
        node_cpus=$(nproc)
        node_topology="CPUs=$node_cpus"
    fi
fi
mem_total_mb=$(awk '/^MemTotal:/{print int($2/1024)}' /proc/meminfo)
node_mem_mb=${HARNESS_SLURM_MEM_MB:-$((mem_total_mb * 9 / 10))}

if [[ ! -s $HS_ETC/db.password ]]; then
    (umask 077 && head -c 24 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' >"$HS_ETC/db.password")
fi
db_pass=$(cat "$HS_ETC/db.password")

render_slurm_conf() {
    cat <<EOF
# Written by runners/slurm_cluster/start.sh: single-node test cluster on loopback.
ClusterName=$HS_CLUSTER
SlurmctldHost=$HS_NODE(127.0.0.1)
SlurmctldPort=$HS_CTLD_PORT
SlurmdPort=$HS_SLURMD_PORT
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
# A requeued job waits cred_expire seconds before it may start again (default 120).
AuthInfo=cred_expire=10
StateSaveLocation=$HS_STATE/slurmctld
SlurmdSpoolDir=$HS_STATE/slurmd
SlurmctldPidFile=$HS_RUN/slurmctld.pid
SlurmdPidFile=$HS_RUN/slurmd.pid
SlurmctldLogFile=$HS_LOG/slurmctld.log
SlurmdLogFile=$HS_LOG/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SwitchType=switch/none
MailProg=/bin/true
ReturnToService=2
SlurmdParameters=config_overrides
SlurmctldTimeout=10
SlurmdTimeout=60
InactiveLimit=0
KillWait=5
MinJobAge=30
Waittime=0
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0,sched_interval=2,bf_interval=2
SelectType=select/cons_tres
# One CPU (not one core) per requested CPU; memory is not a consumable resource.
SelectTypeParameters=CR_CPU
# Reject jobs that can never run instead of leaving them pending forever.
EnforcePartLimits=ALL
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
AccountingStoragePort=$HS_DBD_PORT
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=30
JobCompType=jobcomp/none
NodeName=$HS_NODE NodeAddr=127.0.0.1 NodeHostname=$HS_NODE $node_topology RealMemory=$node_mem_mb State=UNKNOWN
PartitionName=$HS_PARTITION Nodes=$HS_NODE Default=YES MaxTime=INFINITE State=UP
EOF
}

render_slurmdbd_conf() {
    cat <<EOF
# Written by runners/slurm_cluster/start.sh.
AuthType=auth/munge
DbdHost=$HS_NODE
DbdAddr=127.0.0.1
DbdPort=$HS_DBD_PORT
SlurmUser=root
DebugLevel=info
LogFile=$HS_LOG/slurmdbd.log
PidFile=$HS_RUN/slurmdbd.pid
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$HS_MYSQL_PORT
StorageUser=slurm
StoragePass=$db_pass
StorageLoc=slurm_acct_db
EOF
}

config_changed=0
write_if_changed() { # path mode content-on-stdin
    local path=$1 mode=$2 tmp
    tmp=$(mktemp "$path.XXXXXX")
    cat >"$tmp"
    chmod "$mode" "$tmp"
    if [[ -f $path ]] && cmp -s "$tmp" "$path"; then
        rm -f "$tmp"
    else
        [[ -f $path ]] && config_changed=1
        mv -f "$tmp" "$path"
    fi
}
# (not `render | write_if_changed`: a pipeline runs in a subshell and would lose config_changed)
write_if_changed "$HS_ETC/slurm.conf" 644 < <(render_slurm_conf)
write_if_changed "$HS_ETC/slurmdbd.conf" 600 < <(render_slurmdbd_conf)

# Where the Debian binaries look when SLURM_CONF is unset, so plain sbatch/sacct work too.
mkdir -p /etc/slurm
for f in slurm.conf slurmdbd.conf; do
    if [[ -e /etc/slurm/$f && ! -L /etc/slurm/$f ]]; then
        mv -f "/etc/slurm/$f" "/etc/slurm/$f.before-harness"
        hs_log "moved existing /etc/slurm/$f to /etc/slurm/$f.before-harness"
    fi
    ln -sfn "$HS_ETC/$f" "/etc/slurm/$f"
done

# ---------------------------------------------------------------- health
node_state() { timeout 10 sinfo -h -N -n "$HS_NODE" -o '%T' 2>/dev/null | head -n1; }
sacct_ok() { timeout 15 sacct -n -X -S now-1minutes -o JobID >/dev/null 2>&1; }
munge_ok() { munge -n -S "$HS_MUNGE_SOCK" 2>/dev/null | unmunge -S "$HS_MUNGE_SOCK" >/dev/null 2>&1; }
mysql_ok() { mariadb-admin --no-defaults -S "$HS_MYSQL_SOCK" -uroot ping >/dev/null 2>&1; }

all_alive() {
    local entry
    for entry in "${HS_DAEMONS[@]}"; do
        hs_alive "${entry%%:*}" >/dev/null || return 1
    done
}

healthy() {
    all_alive || return 1
    munge_ok || return 1
    mysql_ok || return 1
    [[ $(node_state) =~ ^(idle|mixed|allocated|completing) ]] || return 1
    sacct_ok
}

print_usage_hints() {
    cat <<EOF
[harness-slurm] cluster '$HS_CLUSTER' is up: node $HS_NODE ($node_cpus CPUs, ${node_mem_mb} MB), partition $HS_PARTITION, accounting on.
[harness-slurm] logs: $HS_LOG   stop: $HERE/stop.sh
export SLURM_CONF=$SLURM_CONF
EOF
}

if [[ $config_changed -eq 1 ]]; then
    hs_log "configuration changed: restarting daemons"
    "$HERE/stop.sh"
elif healthy; then
    hs_log "already up and healthy (checked in $(elapsed)s)"
    print_usage_hints
    trap - EXIT
    exit 0
fi

wait_for() { # description timeout_s daemon-or-"-" command...
    # Polls command every 0.2 s; gives up early when the daemon has not been alive for 5 s
    # (its pid file may appear a moment after start, so one miss is not death).
    local what=$1 limit=$2 daemon=$3 i dead=0
    shift 3
    for ((i = 0; i < limit * 5; i++)); do
        "$@" && return 0
        if [[ $daemon != - ]]; then
            if hs_alive "$daemon" >/dev/null; then dead=0; else dead=$((dead + 1)); fi
            [[ $dead -ge 25 ]] && fail "$daemon exited while waiting for $what"
        fi
        sleep 0.2
    done
    fail "timed out after ${limit}s waiting for $what"
}

# A daemon that has exited (or is a zombie) may have left a stale pid file.
ensure_dead_cleanup() { hs_alive "$1" >/dev/null || rm -f "$(hs_daemon_field "$1" 2)"; }

# ---------------------------------------------------------------- munge
start_munge() {
    ensure_dead_cleanup munged
    hs_alive munged >/dev/null && munge_ok && return 0
    hs_log "starting munged"
    if [[ ! -s /etc/munge/munge.key ]]; then
        if command -v mungekey >/dev/null; then
            mungekey --create --keyfile=/etc/munge/munge.key
        else
            dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 status=none
        fi
    fi
    mkdir -p /run/munge /var/lib/munge /var/log/munge
    chown munge:munge /etc/munge /etc/munge/munge.key /run/munge /var/lib/munge /var/log/munge
    chmod 0700 /etc/munge /var/lib/munge
    chmod 0400 /etc/munge/munge.key
    chmod 0755 /run/munge
    touch "$HS_LOG/munged.log"
    chown munge:munge "$HS_LOG/munged.log"
    rm -f "$HS_MUNGE_SOCK" "$HS_MUNGE_SOCK.lock"
    runuser -u munge -- /usr/sbin/munged --socket="$HS_MUNGE_SOCK" \
        --log-file="$HS_LOG/munged.log" --pid-file="$HS_MUNGE_PID" ||
        fail "munged did not start"
    wait_for "munged" 15 munged munge_ok
}

# ---------------------------------------------------------------- mariadb
start_mysql() {
    ensure_dead_cleanup mysqld
    if ! hs_alive mysqld >/dev/null; then
        mkdir -p "$HS_DB" "$HS_RUN/mysql"
        chown mysql:mysql "$HS_DB" "$HS_RUN/mysql"
        if [[ ! -d $HS_DB/mysql ]]; then
            hs_log "initialising MariaDB data dir $HS_DB"
            mariadb-install-db --no-defaults --user=mysql --datadir="$HS_DB" \
                --auth-root-authentication-method=socket --skip-test-db \
                >"$HS_LOG/mysql-install.log" 2>&1 || fail "mariadb-install-db failed (see $HS_LOG/mysql-install.log)"
        fi
        hs_log "starting mariadbd on 127.0.0.1:$HS_MYSQL_PORT"
        rm -f "$HS_MYSQL_SOCK"
        touch "$HS_LOG/mysqld.log"
        chown mysql:mysql "$HS_LOG/mysqld.log" # mariadbd opens --log-error as user mysql
        setsid "$(command -v mariadbd)" --no-defaults --user=mysql --datadir="$HS_DB" \
            --socket="$HS_MYSQL_SOCK" --port="$HS_MYSQL_PORT" --bind-address=127.0.0.1 \
            --pid-file="$HS_MYSQL_PID" --log-error="$HS_LOG/mysqld.log" --skip-name-resolve \
            --performance-schema=OFF --innodb-buffer-pool-size=128M --innodb-log-file-size=64M \
            --innodb-lock-wait-timeout=900 --max-connections=100 \
            </dev/null >>"$HS_LOG/mysqld.log" 2>&1 &
        disown || true
    fi
    wait_for "mariadbd" 60 mysqld mysql_ok
    mariadb --no-defaults -S "$HS_MYSQL_SOCK" -uroot <<EOF || fail "could not create the accounting database"
CREATE DATABASE IF NOT EXISTS slurm_acct_db;
CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY '$db_pass';
CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY '$db_pass';
ALTER USER 'slurm'@'127.0.0.1' IDENTIFIED BY '$db_pass';
ALTER USER 'slurm'@'localhost' IDENTIFIED BY '$db_pass';
GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';
GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';
FLUSH PRIVILEGES;
EOF
}

# ---------------------------------------------------------------- slurm
dbd_ok() { timeout 10 sacctmgr -n -P show cluster format=Cluster >/dev/null 2>&1; }
ctld_ok() { timeout 10 scontrol ping 2>/dev/null | grep -q 'is UP'; }

start_slurmdbd() {
    ensure_dead_cleanup slurmdbd
    if ! hs_alive slurmdbd >/dev/null; then
        hs_log "starting slurmdbd"
        slurmdbd </dev/null >>"$HS_LOG/slurmdbd.log" 2>&1 || fail "slurmdbd did not start"
    fi
    wait_for "slurmdbd" 60 slurmdbd dbd_ok
    if ! timeout 10 sacctmgr -n -P show cluster format=Cluster 2>/dev/null | grep -qx "$HS_CLUSTER"; then
        hs_log "registering cluster $HS_CLUSTER in accounting"
        timeout 30 sacctmgr -i add cluster "$HS_CLUSTER" >>"$HS_LOG/sacctmgr.log" 2>&1 ||
            fail "sacctmgr add cluster $HS_CLUSTER failed"
    fi
}

start_slurmctld() {
    ensure_dead_cleanup slurmctld
    mkdir -p "$HS_STATE/slurmctld"
    if ! hs_alive slurmctld >/dev/null; then
        hs_log "starting slurmctld"
        slurmctld </dev/null >>"$HS_LOG/slurmctld.log" 2>&1 || fail "slurmctld did not start"
    fi
    wait_for "slurmctld" 30 slurmctld ctld_ok
}

start_slurmd() {
    ensure_dead_cleanup slurmd
    mkdir -p "$HS_STATE/slurmd"
    if ! hs_alive slurmd >/dev/null; then
        hs_log "starting slurmd"
        slurmd </dev/null >>"$HS_LOG/slurmd.log" 2>&1 || fail "slurmd did not start"
    fi
}

wait_node_idle() {
    local i st resumed=0
    for ((i = 0; i < 300; i++)); do # 60 s
        st=$(node_state || true)
        case $st in
        idle* | mixed* | allocated* | completing*) return 0 ;;
        down* | drain* | fail*)
            if [[ $resumed -eq 0 && $i -ge 10 ]]; then
                hs_log "node $HS_NODE is '$st': resuming it"
                scontrol update NodeName="$HS_NODE" State=RESUME >/dev/null 2>&1 || true
                resumed=1
            fi
            ;;
        esac
        hs_all_alive_or_fail
        sleep 0.2
    done
    timeout 10 scontrol show node "$HS_NODE" >&2 || true
    fail "node $HS_NODE never became idle (last state: '${st:-?}')"
}

# Fail fast when a daemon dies while we wait, instead of waiting out the timeout.
hs_all_alive_or_fail() {
    local entry
    for entry in "${HS_DAEMONS[@]}"; do
        hs_alive "${entry%%:*}" >/dev/null || fail "${entry%%:*} died"
    done
}

start_munge
start_mysql
start_slurmdbd
start_slurmctld
start_slurmd
wait_node_idle
wait_for "sacct to answer" 30 - sacct_ok

hs_log "started in $(elapsed)s"
print_usage_hints
trap - EXIT
