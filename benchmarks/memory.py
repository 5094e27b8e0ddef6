"""The memory high-water mark of this process, as Linux reports it."""

from __future__ import annotations

import resource


def peak_rss_mb() -> float:
    """VmHWM (resettable through /proc/self/clear_refs), else getrusage's ru_maxrss."""
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
        return True
    except OSError:
        return False
