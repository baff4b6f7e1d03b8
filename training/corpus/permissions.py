"""Written output gets the permissions the umask gives an ordinary ``mkdir`` or ``open``.

``tempfile.mkdtemp`` makes its directory 0700 and safetensors writes its weights 0600, so a model
directory staged that way could not be read by a service running as another user.
"""

from __future__ import annotations

import os
from pathlib import Path


def current_umask() -> int:
    status = Path("/proc/self/status")
    if status.is_file():
        for line in status.read_text(encoding="ascii", errors="replace").splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o077)  # briefly stricter, never looser, should another thread create a file now
    os.umask(mask)
    return mask


def apply_umask(root: Path) -> None:
    """Directories ``0o777 & ~umask`` and files ``0o666 & ~umask``, ``root`` and all below it."""
    mask = current_umask()
    for path in [root, *root.rglob("*")]:
        if not path.is_symlink():
            path.chmod((0o777 if path.is_dir() else 0o666) & ~mask)
