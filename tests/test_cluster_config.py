"""cluster.yaml: valid against the schema Ray ships, and closed to the internet."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import ray
import yaml
from conftest import REPO


@pytest.fixture(scope="module")
def cluster() -> dict[str, Any]:
    return yaml.safe_load((REPO / "cluster.yaml").read_text())


def test_valid_against_rays_schema(cluster: dict[str, Any]) -> None:
    schema = json.loads((Path(ray.__file__).parent / "autoscaler/ray-schema.json").read_text())
    jsonschema.validate(cluster, schema)
    # And a copy with a typo is rejected, so the check above means something.
    with pytest.raises(jsonschema.ValidationError, match="max_worker"):
        jsonschema.validate(cluster | {"max_worker": 3}, schema)


def test_cpu_head_and_autoscaling_cpu_and_gpu_workers(cluster: dict[str, Any]) -> None:
    types = cluster["available_node_types"]
    head = types[cluster["head_node_type"]]
    assert head["resources"] == {"CPU": 0}  # the driver only: trials go to workers
    assert "GPU" not in head["node_config"]["InstanceType"]
    workers = {k: v for k, v in types.items() if k != cluster["head_node_type"]}
    assert all(w["min_workers"] == 0 and w["max_workers"] > 0 for w in workers.values())
    gpu = types["gpu_worker"]
    assert gpu["node_config"]["InstanceType"].startswith(("g4", "g5", "g6", "p3", "p4", "p5"))
    assert any("tensorflow[and-cuda]" in c for c in gpu["worker_setup_commands"])
    assert any("~/mnist-hpo" in c for c in cluster["setup_commands"])


def test_no_port_open_to_the_internet(cluster: dict[str, Any]) -> None:
    text = (REPO / "cluster.yaml").read_text()
    start = " ".join(cluster["head_start_ray_commands"])
    assert "--dashboard-host=127.0.0.1" in start
    assert "0.0.0.0" not in text.replace("# ", "")  # nothing binds or opens to every address
    assert "security_group" not in cluster["provider"] or all(
        p["FromPort"] == 22 for p in cluster["provider"]["security_group"]["IpPermissions"])
