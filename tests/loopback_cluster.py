"""A real two-node Ray cluster on 127.0.0.1, in a private network namespace.

On Linux, Ray replaces 127.0.0.1 with the machine's outward address when nodes join a
cluster. Inside a fresh network namespace (``unshare --net``), loopback is the only
address there is, so every Ray process of the cluster binds and talks on 127.0.0.1, and
nothing else on the machine can see it or be disturbed by it. Needs root (CI runs as root).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

RAY = str(Path(sys.executable).with_name("ray"))
HEAD_PORT = 6379
WORKER_NODE_MANAGER_PORT = 47200


class LoopbackCluster:
    """Head and worker node, one CPU each; :meth:`stop` removes every process it started."""

    def __init__(self) -> None:
        # The holder brings loopback up from inside the new namespace and only then says
        # "ready": /proc/PID/ns/net exists before unshare() has switched namespaces, so
        # waiting on that path raced (lo stayed down, GCS unreachable).
        self.holder = subprocess.Popen(
            ["unshare", "--net", "sh", "-c", "ip link set lo up && echo ready && exec sleep 3600"],
            stdout=subprocess.PIPE, text=True)
        self.netns = f"/proc/{self.holder.pid}/ns/net"
        self.temp_dir = tempfile.mkdtemp(prefix="ray", dir="/tmp")  # short: socket paths
        # `ray start --head` turns on token authentication; every process of this cluster
        # gets the same token through the environment (nothing written to ~/.ray).
        self.env = os.environ | {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32),
                                 "TF_CPP_MIN_LOG_LEVEL": "2"}
        self.address = f"127.0.0.1:{HEAD_PORT}"

    def command(self, *args: str) -> list[str]:
        return ["nsenter", f"--net={self.netns}", *args]

    def run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(self.command(*args), env=self.env, capture_output=True, text=True,
                              timeout=timeout, check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
        return proc

    def popen(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(self.command(*args), env=self.env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)

    def start(self) -> LoopbackCluster:
        assert self.holder.stdout is not None
        if self.holder.stdout.readline().strip() != "ready":
            raise RuntimeError("could not make a network namespace with loopback up")
        if os.readlink(self.netns) == os.readlink("/proc/self/ns/net"):
            raise RuntimeError("the cluster's namespace is the test's own")
        common = ["--num-cpus", "1", "--node-ip-address", "127.0.0.1", "--disable-usage-stats"]
        self.run(RAY, "start", "--head", "--port", str(HEAD_PORT), "--include-dashboard",
                 "false", "--temp-dir", self.temp_dir, *common)
        self.run(RAY, "start", "--address", self.address, "--node-manager-port",
                 str(WORKER_NODE_MANAGER_PORT), *common)
        return self

    def worker_node_pids(self) -> list[int]:
        """The second node's raylet and every process under it (its trial workers)."""
        raylets = [pid for pid, args in _processes().items()
                   if "raylet" in args and f"node_manager_port={WORKER_NODE_MANAGER_PORT}"
                   in args]
        return _with_descendants(raylets)

    def kill_worker_node(self) -> None:
        for pid in self.worker_node_pids():
            _kill(pid)

    def stop(self) -> None:
        """Kill every process in the cluster's namespace (Ray's client proxy included)."""
        namespace = os.readlink(self.netns)
        for pid in _processes():
            with contextlib.suppress(OSError):
                if pid != self.holder.pid and os.readlink(f"/proc/{pid}/ns/net") == namespace:
                    _kill(pid)
        self.holder.kill()
        self.holder.wait()
        shutil.rmtree(self.temp_dir, ignore_errors=True)


def _processes() -> dict[int, str]:
    out = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                out[int(entry.name)] = (entry / "cmdline").read_bytes().replace(b"\0", b" "
                                                                                ).decode()
            except OSError:
                continue
    return out


def _with_descendants(roots: list[int]) -> list[int]:
    children: dict[int, list[int]] = {}
    for pid in _processes():
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(parent, []).append(pid)
    found, todo = [], list(roots)
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, 9)
