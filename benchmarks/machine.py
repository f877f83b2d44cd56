"""The machine a benchmark ran on, recorded beside its numbers so that figures from
different machines are not mixed up."""

from __future__ import annotations

import contextlib
import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

from mnist_hpo.search.outputs import versions


def machine(*extra_packages: str) -> dict[str, Any]:
    """CPU count and model, platform, and the versions of the packages measured
    (``mnist_hpo.search.outputs.versions`` plus ``extra_packages``)."""
    model = platform.processor()  # often empty on Linux: /proc/cpuinfo says more
    with contextlib.suppress(OSError):
        model = next((line.split(":", 1)[1].strip() for line in
                      Path("/proc/cpuinfo").read_text().splitlines()
                      if line.startswith("model name")), model)
    found = versions()
    for pkg in extra_packages:
        try:
            found[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            found[pkg] = "not installed"
    return {"cpus": os.cpu_count(), "cpu": model or "unknown", "platform": platform.platform(),
            **found}


def code_version() -> str | None:
    """The commit this checkout is at, ``-dirty`` with uncommitted changes (``None`` outside
    git): a benchmark that runs across sessions records which code measured each case."""
    here = Path(__file__).resolve().parent
    try:
        head, status = (subprocess.run(["git", *cmd], capture_output=True, text=True,
                                       check=True, cwd=here).stdout.strip()
                        for cmd in (["rev-parse", "HEAD"], ["status", "--porcelain"]))
    except (OSError, subprocess.CalledProcessError):
        return None
    return head + ("-dirty" if status else "")
