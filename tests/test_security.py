"""A local Ray runtime, as `mnist-hpo search` starts it, listens on 127.0.0.1 only."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO

PROBE = """
import json, os
from mnist_hpo.search.cli.search import loopback_if_local
loopback_if_local(None)  # what `mnist-hpo search` does without --address
import ray
ray.init(include_dashboard=False, num_cpus=1, logging_level="ERROR")
node = ray.nodes()[0]
print(json.dumps({"gcs": ray.get_runtime_context().gcs_address,
                  "node": node["NodeManagerAddress"], "raylet_port": node["NodeManagerPort"]}),
      flush=True)
import sys
sys.stdin.readline()  # Ray runs until the test has looked, however long that takes
"""


def listening(port: int) -> set[str]:
    """Local addresses with a TCP socket listening on ``port`` (from /proc/net)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.rsplit(":", 1)
            if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                found.add(address)
    return found


@pytest.mark.slow
@pytest.mark.load
def test_local_runtime_binds_loopback_only() -> None:
    proc = subprocess.Popen([sys.executable, "-c", PROBE], cwd=REPO, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        info = json.loads(proc.stdout.readline())
        assert info["node"] == "127.0.0.1" and info["gcs"].startswith("127.0.0.1:")
        for port in (int(info["gcs"].rsplit(":", 1)[1]), int(info["raylet_port"])):
            addresses = listening(port)
            # 0100007F: 127.0.0.1 (IPv4, little-endian); ...FFFF0000 0100007F: as IPv6-mapped.
            assert addresses and all(a.endswith("0100007F") for a in addresses), addresses
    finally:
        proc.kill()
        proc.wait()
