"""Dry runs: sample configurations from a space without training anything."""

from __future__ import annotations

from typing import Any

from mnist_hpo.spaces.space import Space


def sample_configs(space: Space, n: int, seed: int = 0) -> list[dict[str, Any]]:
    """Draw ``n`` configurations through an Optuna study with a seeded random sampler.

    This is the same define-by-run path the search uses (``Space.suggest``), so what it
    prints is what trials can receive.
    """
    import optuna  # imported here: listing or showing spaces should not pay for it

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed),
                                direction="maximize")
    return [space.suggest(study.ask()) for _ in range(n)]
