"""What a node has mounted, as its agent reports it in every hello.

The head node admits a node only if every shared storage the configuration says the node's
provider has (``Stratus.SharedStorage``) is a mount point on it: a job whose working directory
lies there would otherwise fail on that node, or worse, write to a local directory nobody reads.
"""

from __future__ import annotations

import re
from pathlib import Path

_MOUNTINFO = Path("/proc/self/mountinfo")
# mountinfo escapes space, tab, newline and backslash in paths as octal (\040 ...).
_OCTAL = re.compile(r"\\([0-7]{3})")


def mount_points(mountinfo: Path = _MOUNTINFO) -> list[str]:
    """Every mount point this process sees, sorted; empty where the kernel does not say."""
    try:
        text = mountinfo.read_text(errors="replace")
    except OSError:
        return []
    points = set()
    for line in text.splitlines():
        fields = line.split()
        if len(fields) > 4:
            points.add(_OCTAL.sub(lambda m: chr(int(m.group(1), 8)), fields[4]))
    return sorted(points)
