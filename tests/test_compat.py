"""The private parts of Ray and Optuna that mnist-hpo uses (search/tune/compat.py) are still
there and still behave as relied upon; no other module reaches for one.

Each check fails with one line naming the package, its installed version and the internal
that moved: where to look when a new Ray or Optuna is tried.
"""

from __future__ import annotations

import ast
import contextlib
import importlib
import inspect
import os
import re
import subprocess
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

import optuna
import pytest
import ray
from conftest import REPO
from optuna.distributions import FloatDistribution

from mnist_hpo.search.tune import compat
from mnist_hpo.search.tune.factories import TPE_OPTIONS


def moved(package: str, internal: str, user: str) -> NoReturn:
    """Fails the test with one line: ``package``'s version, what moved, who relied on it."""
    installed, written_for = {"ray": (ray.__version__, compat.RAY_WRITTEN_FOR),
                              "optuna": (optuna.__version__, compat.OPTUNA_WRITTEN_FOR)}[package]
    pytest.fail(f"{package} {installed}: {internal}; mnist_hpo.search.tune.compat.{user} was "
                f"written for {package} {written_for}", pytrace=False)


@pytest.mark.parametrize("directions", [["maximize"], ["maximize", "minimize"]])
def test_optuna_tpe_reads_trials_through_the_study_view(directions: list[str]) -> None:
    parameters = set(inspect.signature(optuna.Study._get_trials).parameters)
    if not {"deepcopy", "states", "use_cache"} <= parameters:
        moved("optuna", f"Study._get_trials takes {sorted(parameters - {'self'})}, not "
                        "deepcopy, states, use_cache", "SamplerStudyView")
    study = optuna.create_study(directions=directions)
    x, y = FloatDistribution(0.0, 1.0), FloatDistribution(0.0, 1.0)
    for i in range(8):
        study.add_trial(optuna.trial.create_trial(
            params={"x": i / 8, "y": 1 - i / 8}, distributions={"x": x, "y": y},
            values=[i / 8, 1 - i / 8][:len(directions)]))
    study.ask()
    asked = study.get_trials(deepcopy=False)[-1]
    read: list[int] = []

    def seen(trials: list[optuna.trial.FrozenTrial]) -> list[optuna.trial.FrozenTrial]:
        read.extend(t.number for t in trials)
        return trials

    def view() -> Any:  # a fresh one per call: a view maps a shared read only once
        return compat.SamplerStudyView(study, seen)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)  # group
        tpe = optuna.samplers.TPESampler(seed=0, **TPE_OPTIONS)
    # What mnist-hpo's searches call, each of which must see the trials through the view.
    calls = {
        "infer_relative_search_space": lambda: tpe.infer_relative_search_space(view(), asked),
        "sample_relative": lambda: tpe.sample_relative(view(), asked, {"x": x}),
        "sample_independent": lambda: tpe.sample_independent(view(), asked, "y", y),
    }
    for name, call in calls.items():
        before = len(read)
        call()
        if len(read) == before:
            moved("optuna", f"TPESampler.{name} no longer reads trials through "
                            "Study._get_trials or get_trials", "SamplerStudyView")


def test_ray_keeps_a_local_runtime_on_loopback_at_its_switch() -> None:
    probe = ("from ray._private import ray_constants, services\n"
             "print(ray_constants.ENABLE_RAY_CLUSTERS_ENV_VAR, ray_constants.ENABLE_RAY_CLUSTER,"
             " services.get_node_ip_address())")
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          env=os.environ | {compat.RAY_LOOPBACK_ONLY: "0"}, check=False,
                          timeout=120)
    said = proc.stdout.strip() or (proc.stderr.strip().splitlines() or ["nothing"])[-1]
    if said != f"{compat.RAY_LOOPBACK_ONLY} False 127.0.0.1":
        moved("ray", f"{compat.RAY_LOOPBACK_ONLY}=0 no longer keeps a local runtime on "
                     f"127.0.0.1 (ray_constants, services say: {said})", "RAY_LOOPBACK_ONLY")


# No private use outside compat.py.

#: Private names of Ray's and Optuna's objects (used here once, or likely): reached on
#: anything but ``self``, or named as a string, they are a private use.
PRIVATE_NAMES = {
    "_get_trials", "_storage", "_study_id", "_directions", "_thread_local",
    "_is_multi_objective", "_ot_study", "_ot_trial_id", "_num_stopped", "_max_t", "_time_attr",
    "_metric", "_metric_op", "_brackets", "_rungs", "_trial_info", "_timeout_seconds",
    "_budget", "_last_check", "_stoppers", "_local_tuner", "_tune_config", "_Bracket",
}
#: Ray's private switches, read from the environment.
PRIVATE_SWITCHES = {compat.RAY_LOOPBACK_ONLY}
PACKAGES = ("ray", "optuna")
SOURCES = ("search", "reports", "spaces", "benchmarks")


def dotted(node: ast.expr) -> str | None:
    """``a.b.c`` for a name or a chain of attributes, else None."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        inner = dotted(node.value)
        return None if inner is None else f"{inner}.{node.attr}"
    return None


def is_private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def resolve(path: str) -> Any:
    """The object at a dotted path (``ray.tune.Stopper``), or None if it does not import."""
    parts = path.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            found: Any = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        try:
            for part in parts[cut:]:
                found = getattr(found, part)
        except AttributeError:
            return None
        return found
    return None


def privates_of(cls: type) -> set[str]:
    """The private attributes and methods of ``cls``'s Ray and Optuna ancestors."""
    names: set[str] = set()
    for ancestor in cls.__mro__:
        if ancestor.__module__.split(".")[0] not in PACKAGES:
            continue
        names |= {n for n in vars(ancestor) if is_private(n)}
        with contextlib.suppress(OSError, TypeError):  # no source: its attributes only
            names |= set(re.findall(r"self\.(_[A-Za-z]\w*)", inspect.getsource(ancestor)))
    return names


def private_uses(path: Path) -> Iterator[tuple[int, str]]:
    """(line, what) for each private use of Ray or Optuna in the module at ``path``."""
    tree = ast.parse(path.read_text(), filename=str(path))
    aliases: dict[str, str] = {}  # local name -> dotted path
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    aliases[alias.asname] = alias.name
                else:
                    aliases[alias.name.split(".")[0]] = alias.name.split(".")[0]
                if alias.name.split(".")[0] in PACKAGES and any(
                        is_private(p) for p in alias.name.split(".")):
                    yield node.lineno, f"import {alias.name}"
        elif isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"
                if node.module.split(".")[0] in PACKAGES and any(
                        is_private(p) for p in [*node.module.split("."), alias.name]):
                    yield node.lineno, f"from {node.module} import {alias.name}"

    def full(node: ast.expr) -> str | None:
        name = dotted(node)
        if name is None:
            return None
        root, _, rest = name.partition(".")
        return ".".join(filter(None, [aliases.get(root, root), rest]))

    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and is_private(node.attr):
            if isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"):
                continue  # judged with the class, below
            target = full(node)
            if node.attr in PRIVATE_NAMES or (target or "").split(".")[0] in PACKAGES:
                yield node.lineno, ast.unparse(node)
        elif isinstance(node, ast.Constant) and node.value in PRIVATE_SWITCHES:
            yield node.lineno, repr(node.value)
        elif isinstance(node, ast.Call) and dotted(node.func) in ("getattr", "setattr",
                                                                  "hasattr", "delattr"):
            if len(node.args) > 1 and isinstance(node.args[1], ast.Constant) and \
                    node.args[1].value in PRIVATE_NAMES:
                yield node.lineno, ast.unparse(node)
        elif isinstance(node, ast.ClassDef):
            inherited: set[str] = set()
            for base in node.bases:
                target = full(base)
                found = resolve(target) if target and target.split(".")[0] in (
                    *PACKAGES, "mnist_hpo") else None
                if isinstance(found, type):
                    inherited |= privates_of(found)
            for inner in ast.walk(node):
                if isinstance(inner, ast.Attribute) and inner.attr in inherited and \
                        isinstance(inner.value, ast.Name) and inner.value.id == "self":
                    yield inner.lineno, f"{node.name}: self.{inner.attr}"
                elif isinstance(inner, ast.FunctionDef) and inner.name in inherited:
                    yield inner.lineno, f"{node.name} overrides {inner.name}"


def test_no_private_ray_or_optuna_use_outside_compat() -> None:
    compat_file = Path(compat.__file__).resolve()
    found = [f"{path.relative_to(REPO)}:{line}: {what}"
             for folder in SOURCES for path in sorted((REPO / folder).rglob("*.py"))
             if path.resolve() != compat_file and path.name != "compat.py"
             for line, what in private_uses(path)]
    assert not found, ("private Ray/Optuna use outside search/tune/compat.py (move it there, "
                       "with why no public way exists):\n" + "\n".join(found))


def test_the_private_use_check_finds_what_it_is_for(tmp_path: Path) -> None:
    code = tmp_path / "uses.py"
    code.write_text(
        "from ray._private.utils import get_num_cpus\n"
        "from ray.tune.schedulers import ASHAScheduler\n"
        "from ray.tune.schedulers.async_hyperband import _Bracket\n"
        "import optuna\n"
        "class Keeps(ASHAScheduler):\n"
        "    def on_trial_result(self, c, trial, result):\n"
        "        self._num_stopped -= 1\n"
        "        self._mine = 1\n"
        "def trials(study):\n"
        "    return study._get_trials(use_cache=True), optuna.samplers._tpe\n"
        "SWITCH = 'RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER'\n")
    assert sorted(line for line, _ in private_uses(code)) == [1, 3, 7, 10, 10, 11]
