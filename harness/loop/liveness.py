"""Is the process or job that claims a run still alive?"""
from __future__ import annotations

import os
import socket
from pathlib import Path


def pid_alive(pid: int) -> bool:
    """True for a live process; a zombie counts as dead (DESIGN.md section 6: check /proc/PID/stat)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def claimed_by_live_process(status: dict) -> bool:
    """A status written by a local process on this host whose process still runs."""
    pid = status.get("pid")
    return (status.get("state") == "running" and pid is not None and status.get("host") == socket.gethostname()
            and pid != os.getpid() and pid_alive(pid))
