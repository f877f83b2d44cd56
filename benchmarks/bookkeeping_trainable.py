"""What ``benchmarks/ray_bookkeeping.py``'s trials run and what measures them: a trainable
that sleeps and reports as mnist-hpo's ``EpochTrainable`` does, and a callback counting
its results."""

from __future__ import annotations

import json
import math
import random
import time
from pathlib import Path
from typing import Any

from benchmarks.bookkeeping_workloads import IMAGES, SLEPT


def sleeping_trainable(seconds: float) -> type:
    """A ``tune.Trainable`` whose every step sleeps ``seconds`` and reports what
    ``EpochTrainable`` reports, with its ``setup`` keywords (``split`` ignored); it
    checkpoints ``state.json`` as it does (not the model's bytes: trial-side I/O, not the
    driver's bookkeeping). Built here, with Ray imported late, so that Ray reads the
    environment ``main`` sets."""
    from ray import tune

    from mnist_hpo.search.experiment.names import CHECKPOINT_STATE, COST_KEYS, EPOCH_KEYS

    class SleepingTrainable(tune.Trainable):
        # EpochTrainable's keywords (tune.with_parameters hands them to setup); any it
        # gains later are taken and ignored.
        def setup(self, config: dict[str, Any], *, epochs: int,  # type: ignore[override]
                  seed: int, split: Any = None, threads: int = 1, gpus: float = 0.0,
                  **more: Any) -> None:
            import ray

            self._epochs, self._seed = epochs, seed
            self._node_id = ray.get_runtime_context().get_node_id()
            self._start()

        def _start(self) -> None:
            self._done = 0
            drawn = json.dumps(self.config, sort_keys=True, default=str)
            rng = random.Random(f"{self._seed}|{drawn}")
            self._final, self._speed = rng.uniform(0.90, 0.995), rng.uniform(0.3, 2.0)
            params = rng.randint(20_000, 2_000_000)
            self._cost = dict(zip(COST_KEYS, (params, 12 * params + 20_000,
                                              params / 2e6, params / 2e8), strict=True))

        def step(self) -> dict[str, Any]:
            start = time.perf_counter()
            time.sleep(seconds)
            took = time.perf_counter() - start
            self._done += 1
            value = self._final - (self._final - 0.1) * math.exp(-self._speed * self._done)
            value += random.Random(f"{self._seed}|{self._final}|{self._done}").gauss(0, 0.002)
            metrics = (1 - value + 0.01, value + 0.005, 1 - value, value, took, IMAGES / took)
            result: dict[str, Any] = dict(zip(EPOCH_KEYS, metrics, strict=True))
            result |= {"epoch": self._done, "node_id": self._node_id, **self._cost,
                       SLEPT: took}
            if self._done >= self._epochs:
                result["done"] = True
            return result

        def save_checkpoint(self, checkpoint_dir: str) -> None:
            state = {"epoch": self._done, "val_accuracy": None}
            (Path(checkpoint_dir) / CHECKPOINT_STATE).write_text(json.dumps(state))

        def load_checkpoint(self, checkpoint: dict[str, Any] | str | None) -> None:
            if isinstance(checkpoint, str):
                state = json.loads((Path(checkpoint) / CHECKPOINT_STATE).read_text())
                self._done = int(state["epoch"])

        def reset_config(self, new_config: dict[str, Any]) -> bool:
            self._start()  # Ray has set self.config
            return True

    return SleepingTrainable


def meter_callback(full: int) -> Any:
    """A ``tune.Callback`` counting results (the furthest ``training_iteration`` of each
    trial: Ray hands a trial's last result over again when it ends), ended and errored
    trials, when the first result came and when ``full`` trials first ran at once."""
    from ray import tune

    class Meter(tune.Callback):
        def __init__(self) -> None:
            self.iterations: dict[str, int] = {}
            self.completed: set[str] = set()
            self.errored: set[str] = set()
            self.first_result: float | None = None
            self.full: float | None = None
            self.most = 0  # trials running at once, at most (counted until ``full``)
            self.foreign = 0  # results of another trainable than the sleeping one

        def on_trial_start(self, iteration: int, trials: list[Any], trial: Any,
                           **info: Any) -> None:
            # Counted only until it happens (it costs O(trials)); Ray marks ``trial`` as
            # running right after this call.
            if self.full is not None:
                return
            running = 1 + sum(t.status == "RUNNING" for t in trials if t is not trial)
            self.most = max(self.most, running)
            if running >= full:
                self.full = time.perf_counter()

        def on_trial_result(self, iteration: int, trials: list[Any], trial: Any,
                            result: dict[str, Any], **info: Any) -> None:
            if self.first_result is None:
                self.first_result = time.perf_counter()
            self.foreign += SLEPT not in result
            done = int(result.get("training_iteration") or 0)
            self.iterations[trial.trial_id] = max(self.iterations.get(trial.trial_id, 0), done)

        def on_trial_complete(self, iteration: int, trials: list[Any], trial: Any,
                              **info: Any) -> None:
            self.completed.add(trial.trial_id)

        def on_trial_error(self, iteration: int, trials: list[Any], trial: Any,
                           **info: Any) -> None:
            self.errored.add(trial.trial_id)

    return Meter()
