# shellcheck shell=bash disable=SC2034
# Shared settings and helpers for start.sh / stop.sh (sourced, not executed).
# Everything can be overridden from the environment; the defaults are what CI uses.

HS_ROOT=${HARNESS_SLURM_ROOT:-/var/lib/harness-slurm}
HS_ETC=$HS_ROOT/etc
HS_LOG=$HS_ROOT/log
HS_RUN=$HS_ROOT/run
HS_STATE=$HS_ROOT/state
HS_DB=$HS_ROOT/mysql
HS_CLUSTER=${HARNESS_SLURM_CLUSTER:-harness}
HS_PARTITION=debug
HS_MYSQL_PORT=${HARNESS_SLURM_MYSQL_PORT:-3307}
HS_CTLD_PORT=${HARNESS_SLURM_CTLD_PORT:-6817}
HS_SLURMD_PORT=${HARNESS_SLURM_SLURMD_PORT:-6818}
HS_DBD_PORT=${HARNESS_SLURM_DBD_PORT:-6819}
HS_MYSQL_SOCK=$HS_RUN/mysql/mysqld.sock
HS_MYSQL_PID=$HS_RUN/mysql/mysqld.pid
HS_MUNGE_SOCK=/run/munge/munge.socket.2 # the path the Slurm munge plugins use by default
HS_MUNGE_PID=/run/munge/munged.pid
HS_NODE=${HARNESS_SLURM_NODE:-$(hostname -s)}
SLURM_CONF=$HS_ETC/slurm.conf
export SLURM_CONF

# name:pidfile:comm (comm = /proc/PID/comm, 15 chars max), in start order.
HS_DAEMONS=(
    "munged:$HS_MUNGE_PID:munged"
    "mysqld:$HS_MYSQL_PID:mariadbd"
    "slurmdbd:$HS_RUN/slurmdbd.pid:slurmdbd"
    "slurmctld:$HS_RUN/slurmctld.pid:slurmctld"
    "slurmd:$HS_RUN/slurmd.pid:slurmd"
)

hs_log() { printf '[harness-slurm] %s\n' "$*" >&2; }

# Print the PID of a live (not zombie/dead) process recorded in PIDFILE whose comm is COMM.
# `kill -0` alone is not enough: an exited daemon whose parent never reaps it stays a zombie.
hs_pid_alive() {
    local pidfile=$1 comm=$2 pid state
    [[ -r $pidfile ]] || return 1
    pid=$({ tr -dc '0-9' <"$pidfile"; } 2>/dev/null) || return 1
    [[ -n $pid && -r /proc/$pid/stat ]] || return 1
    state=$(sed 's/^.*) //' "/proc/$pid/stat" 2>/dev/null | cut -d' ' -f1) || return 1
    [[ -n $state && $state != Z && $state != X && $state != x ]] || return 1
    [[ $(cat "/proc/$pid/comm" 2>/dev/null) == "$comm"* ]] || return 1
    echo "$pid"
}

# hs_daemon_field NAME FIELD(1=name 2=pidfile 3=comm)
hs_daemon_field() {
    local entry
    for entry in "${HS_DAEMONS[@]}"; do
        if [[ ${entry%%:*} == "$1" ]]; then
            cut -d: -f"$2" <<<"$entry"
            return 0
        fi
    done
    return 1
}

hs_alive() { hs_pid_alive "$(hs_daemon_field "$1" 2)" "$(hs_daemon_field "$1" 3)"; }

# Stop one daemon: SIGTERM, wait up to $2 seconds, then SIGKILL.
hs_stop_daemon() {
    local name=$1 wait_s=${2:-20} pid i
    pid=$(hs_alive "$name") || { rm -f "$(hs_daemon_field "$name" 2)"; return 0; }
    hs_log "stopping $name (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < wait_s * 5; i++)); do
        hs_pid_alive "$(hs_daemon_field "$name" 2)" "$(hs_daemon_field "$name" 3)" >/dev/null || break
        sleep 0.2
    done
    if hs_pid_alive "$(hs_daemon_field "$name" 2)" "$(hs_daemon_field "$name" 3)" >/dev/null; then
        hs_log "$name did not stop in ${wait_s}s: SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
        sleep 0.5
    fi
    rm -f "$(hs_daemon_field "$name" 2)"
}
