"""What a benchmark reads about another process from Linux's /proc."""

from __future__ import annotations

import math
import os
from pathlib import Path


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process so far (None where /proc cannot be read)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    """Resident memory of a process in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return math.nan
