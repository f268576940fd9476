#!/usr/bin/env bash
# Stop the daemons started by start.sh (slurmd, slurmctld, slurmdbd, mariadbd, munged).
#   stop.sh           stop; state, accounting DB and configs are kept (start.sh resumes them)
#   stop.sh --purge   stop, then delete everything under the cluster folder except log/
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=common.sh
source "$HERE/common.sh"

[[ $(id -u) -eq 0 ]] || { hs_log "must run as root"; exit 2; }
purge=0
case ${1:-} in
--purge) purge=1 ;;
"") ;;
*) echo "usage: $0 [--purge]" >&2; exit 2 ;;
esac

if [[ $purge -eq 1 ]] && hs_alive slurmctld >/dev/null; then
    # This cluster's jobs would be orphans once its state is gone: cancel them first.
    jobs=$(timeout 10 squeue -h -o %i 2>/dev/null || true)
    if [[ -n $jobs ]]; then
        hs_log "cancelling jobs: ${jobs//$'\n'/ }"
        # shellcheck disable=SC2086
        timeout 10 scancel $jobs || true
        sleep 2
    fi
fi

# Reverse start order. slurmd first so that no new steps start while the controller goes.
for ((i = ${#HS_DAEMONS[@]} - 1; i >= 0; i--)); do
    name=${HS_DAEMONS[$i]%%:*}
    case $name in
    mysqld) hs_stop_daemon "$name" 60 ;; # InnoDB shutdown can take a few seconds
    *) hs_stop_daemon "$name" 20 ;;
    esac
done

if [[ $purge -eq 1 ]]; then
    hs_log "purging $HS_ROOT (keeping $HS_LOG)"
    rm -rf "${HS_ETC:?}" "${HS_RUN:?}" "${HS_STATE:?}" "${HS_DB:?}"
    for f in slurm.conf slurmdbd.conf; do
        if [[ -L /etc/slurm/$f && $(readlink "/etc/slurm/$f") == "$HS_ETC/$f" ]]; then
            rm -f "/etc/slurm/$f"
        fi
    done
fi
hs_log "stopped"
