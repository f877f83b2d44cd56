"""The sampler learns from trials waiting at a rung (search/tune/evidence.py).

The reference each test compares with is independent of the code under test: a bare
Optuna study with the random stream TPE falls back to, and the study's own records.
"""

from __future__ import annotations

import optuna
import pytest
from optuna.trial import TrialState

from mnist_hpo.search.tune import evidence
from mnist_hpo.search.tune.evidence import SeesUnfinished
from mnist_hpo.search.tune.factories import make_sampling
from mnist_hpo.search.tune.searcher import DRAWN_FROM, OptunaSearcher
from mnist_hpo.search.tune.settings import SearchSettings
from mnist_hpo.spaces import load_space

SPACE = load_space("default")


def searcher_for(settings: SearchSettings) -> OptunaSearcher:
    sampling = make_sampling(settings)
    return OptunaSearcher(SPACE.suggest, sampler=sampling.sampler, study_name="s",
                          max_epochs=9, metric="val_accuracy", mode="max",
                          prior=sampling.prior)


def wait_at_first_rung(searcher: OptunaSearcher, n: int) -> list[dict[str, object]]:
    """``n`` configurations, each reporting epoch 1 and then waiting (never ending)."""
    configs = []
    for i in range(n):
        configs.append(searcher.suggest(f"ray-{i}"))
        # A score that favours low dense dropout, so there is something to learn.
        score = 0.99 - float(configs[-1]["dense_dropout"])  # type: ignore[arg-type]
        searcher.on_trial_result(f"ray-{i}", {"val_accuracy": score,
                                               "training_iteration": 1})
    return configs


def random_stream(seed: int, n: int) -> list[dict[str, object]]:
    """What TPE draws while it has no evidence: its internal RandomSampler(seed)."""
    study = optuna.create_study(direction="maximize",
                                sampler=optuna.samplers.RandomSampler(seed=seed))
    return [SPACE.suggest(study.ask()) for _ in range(n)]


def test_waiting_trials_end_tpe_start_up_and_stay_running_in_the_study() -> None:
    cold = SearchSettings(space=SPACE, name="s", warm_start=False, seed=3)
    searcher = searcher_for(cold)
    drawn = wait_at_first_rung(searcher, 30)
    random = random_stream(3, 30)
    # The 10 start-up trials (cold) are TPE's random ones; after them, TPE models the
    # waiting trials' first epochs and its draws leave the random stream (before the view,
    # all were the random stream's: every cold search was the random baseline) ...
    assert drawn[:10] == random[:10]
    assert all(d != r for d, r in zip(drawn[10:], random[10:], strict=True))
    # ... towards what scored well at epoch 1.
    def mean_dropout(configs: list[dict[str, object]]) -> float:
        return sum(float(c["dense_dropout"]) for c in configs) / len(configs)  # type: ignore[arg-type]
    assert mean_dropout(drawn[20:]) < 0.5 * mean_dropout(random[20:])
    # The records are untouched: the trials are RUNNING, with their epoch told.
    trials = searcher.study.get_trials(deepcopy=False)
    assert {t.state for t in trials} == {TrialState.RUNNING}
    assert all(t.intermediate_values for t in trials)


def test_the_sampler_sees_a_waiting_trial_as_pruned_at_its_last_epoch() -> None:
    study = optuna.create_study(direction="maximize")
    waiting, starting = study.ask(), study.ask()
    waiting.suggest_float("x", 0.0, 1.0)
    waiting.report(0.8, 1)
    waiting.report(0.85, 2)
    starting.suggest_float("x", 0.0, 1.0)
    seen: dict[str, list[optuna.trial.FrozenTrial]] = {}

    class Spy(optuna.samplers.RandomSampler):
        def before_trial(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
            seen["pruned"] = study.get_trials(states=(TrialState.PRUNED,))
            seen["running"] = study._get_trials(deepcopy=False, states=(TrialState.RUNNING,),
                                                use_cache=True)

    study.sampler = SeesUnfinished(Spy(seed=0))
    study.ask()
    assert [(t.number, t.intermediate_values) for t in seen["pruned"]] == [
        (waiting.number, {1: 0.8, 2: 0.85})]
    # No epoch yet: still RUNNING, for TPE's constant liar (and the trial being asked).
    assert [t.number for t in seen["running"]] == [starting.number, 2]
    assert study.get_trials()[waiting.number].state is TrialState.RUNNING


def test_the_prior_is_trusted_less_as_trials_wait() -> None:
    # The prior is drawn from with probability 8 / (8 + n), n the trials with evidence:
    # with waiting trials counted, draws from TPE appear long before any trial ends.
    searcher = searcher_for(SearchSettings(space=SPACE, name="s", seed=0))
    wait_at_first_rung(searcher, 30)
    drawn = [t.user_attrs[DRAWN_FROM] for t in searcher.study.get_trials(deepcopy=False)]
    assert drawn[0] == "prior" and drawn.count("sampler") >= 8


def test_past_its_history_the_sampler_sees_the_recent_half_and_the_best_of_the_rest(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(evidence, "HISTORY", 10)
    study = optuna.create_study(direction="maximize")
    scores = [0.5, 0.9, 0.1, 0.95, 0.3, 0.2, 0.8, 0.4, 0.6, 0.7, 0.35, 0.45, 0.55, 0.65]
    for number, score in enumerate(scores):
        trial = study.ask()
        trial.suggest_float("x", 0.0, 1.0)
        trial.report(score, 1)
        if number == 2:  # ended: its full 3 epochs outrank any first epoch
            trial.report(0.15, 3)
            study.tell(trial, 0.15)
        elif number % 3 == 1:  # stopped early; the others wait (seen as pruned)
            study.tell(trial, state=TrialState.PRUNED)
    asking = study.ask()  # no epoch yet: among the most recent, for the constant liar
    trials = study.get_trials(deepcopy=False)
    shown = evidence.known(trials)
    # The 5 most recent (10, 11, 12, 13 and the one asked), and the best 5 of the 10 before:
    # the completed one, then by the score of their first epoch.
    assert [t.number for t in shown] == [1, 2, 3, 6, 9, 10, 11, 12, 13, asking.number]
    assert {t.state for t in shown if t.number != 2 and t.number != asking.number} == {
        TrialState.PRUNED}
    assert [t.number for t in evidence.known(trials[:10])] == list(range(10))  # all, below it


def test_the_sampler_sees_one_read_per_ask_however_often_it_reads(
        monkeypatch: pytest.MonkeyPatch) -> None:
    study = optuna.create_study(direction="maximize")
    calls: list[int] = []
    original = evidence.History.__call__

    class Reads(optuna.samplers.RandomSampler):
        def sample_independent(self, study: optuna.Study, trial: optuna.trial.FrozenTrial,
                               name: str, distribution: object) -> object:
            for _ in range(3):
                study._get_trials(deepcopy=False, use_cache=True)
            return super().sample_independent(study, trial, name, distribution)  # type: ignore[arg-type]

    def counted(self: evidence.History, trials: list[optuna.trial.FrozenTrial]
                ) -> list[optuna.trial.FrozenTrial]:
        calls.append(len(trials))
        return original(self, trials)

    study.sampler = SeesUnfinished(Reads(seed=0))
    monkeypatch.setattr(evidence.History, "__call__", counted)
    for _ in range(3):
        trial = study.ask()
        trial.suggest_float("x", 0.0, 1.0)
        trial.suggest_float("y", 0.0, 1.0)
    assert calls == [1, 2, 3]  # one mapping per ask: 6 reads each, all shared


def test_the_best_of_the_older_trials_are_ranked_again_every_refresh(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(evidence, "HISTORY", 4)
    monkeypatch.setattr(evidence, "REFRESH", 2)
    study = optuna.create_study(direction="maximize")
    for score in [0.1, 0.9, 0.2, 0.3, 0.4, 0.5, 0.6]:
        trial = study.ask()
        trial.suggest_float("x", 0.0, 1.0)
        trial.report(score, 1)
    trials = study.get_trials(deepcopy=False)
    history = evidence.History()
    assert [t.number for t in history(trials[:5])] == [1, 2, 3, 4]  # best of 0-2, recent 3-4
    study.tell(0, 0.95)  # trial 0 completes: the best evidence there is
    trials = study.get_trials(deepcopy=False)
    # Not ranked again yet: 3 has left the recent half and was not among the best.
    assert [t.number for t in history(trials[:6])] == [1, 2, 4, 5]
    assert [t.number for t in history(trials)] == [0, 1, 5, 6]  # 2 trials since: ranked again
