"""The lines printed as a search runs, also in a resumed search (fresh callbacks, restored
trials)."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
from ray.tune.experiment import Trial

from mnist_hpo.search.tune.callbacks import TrialPrinter, trial_number
from mnist_hpo.search.tune.progress import Progress, ProgressCallback


def ray_trial(number: int, scores: list[float], status: str = Trial.TERMINATED) -> Trial:
    """A trial as Ray keeps it (and restores it on resume): its results, its status."""
    trial = Trial("noop", config={"dense_units": 32, "epochs": 3}, stub=True,
                  experiment_tag=f"{number}_dense_units=32")
    for epoch, score in enumerate(scores, start=1):
        trial.update_last_result({"val_accuracy": score, "training_iteration": epoch})
    trial.set_status(status)  # type: ignore[no-untyped-call]
    return trial


def test_a_resumed_search_prints_what_trials_reported_before_the_interruption() -> None:
    lines: list[str] = []
    printer = TrialPrinter(3, ["dense_units"], write=lines.append)
    # What `mnist-hpo resume` runs with: the printer unpickled from tuner.pkl, having seen
    # none of the results; Ray restores the trials with theirs.
    resumed: TrialPrinter = pickle.loads(pickle.dumps(printer))
    resumed.write = lines.append
    earlier = ray_trial(4, [0.85, 0.896, 0.89])  # finished before the kill
    waiting = ray_trial(3, [0.074], status=Trial.PAUSED)  # waited at epoch 1's rung
    resumed.on_trial_complete(0, [earlier, waiting], waiting)
    assert lines == ["Trial 3 finished: val_accuracy=0.0740 after 1 epoch (stopped early) "
                     "{'dense_units': 32}. Best: trial 4, 0.8960."]


def test_the_best_is_the_best_epoch_of_the_finished_trials() -> None:
    lines: list[str] = []
    printer = TrialPrinter(3, ["dense_units"], write=lines.append)
    running = ray_trial(1, [0.99], status=Trial.RUNNING)  # not finished: not the best yet
    first = ray_trial(2, [0.91, 0.95, 0.93], status=Trial.RUNNING)
    printer.on_trial_complete(0, [running, first], first)
    unreported = ray_trial(5, [], status=Trial.RUNNING)
    first.set_status(Trial.TERMINATED)  # type: ignore[no-untyped-call]
    printer.on_trial_complete(0, [running, first, unreported], unreported)
    assert lines == [
        "Trial 2 finished: val_accuracy=0.9500 after 3 epochs {'dense_units': 32}. "
        "Best: trial 2, 0.9500.",
        "Trial 5 finished without reporting val_accuracy. Best: trial 2, 0.9500."]


def test_a_resumed_status_line_shows_the_searchs_best_not_this_processs() -> None:
    progress: Progress = pickle.loads(pickle.dumps(Progress(planned=12, max_epochs=3)))
    callback = ProgressCallback(progress, trial_number)
    earlier = ray_trial(4, [0.85, 0.896, 0.89])  # finished before the kill
    equal = ray_trial(9, [0.896])  # of equals, the lowest number, as the trial lines say
    resumed = ray_trial(5, [], status=Trial.RUNNING)
    callback.on_trial_start(0, [equal, earlier, resumed], resumed)
    callback.on_trial_result(0, [equal, earlier, resumed], resumed,
                             {"val_accuracy": 0.88, "training_iteration": 1})
    assert progress.figures()["best"] == 0.896 and progress.figures()["best_trial"] == 4
    assert progress.figures()["trials_done"] == 0  # the counts restart with the process


def test_a_resumed_status_line_counts_down_what_is_left_of_the_time_budget(
        tmp_path: Path) -> None:
    (tmp_path / "time_budget").write_text('{"budget_s": 60, "left_s": 25.0, '
                                                '"reached": false}')
    before = Progress(planned=12, max_epochs=3, time_budget_s=60.0, experiment=str(tmp_path))
    resumed: Progress = pickle.loads(pickle.dumps(before))
    resumed.start("a")
    resumed.result("a", 1, 1, 0.9)
    figures = resumed.figures(now=resumed.started + 5.0)
    assert (figures["left_s"], figures["left_by"]) == (20, "time budget")


def test_each_end_reads_the_records_of_the_trial_ending_only(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Ray hands the printer every trial at each end; the best so far is kept, so a search
    of 2,000 trials does not read 2 million records to print its lines."""
    from mnist_hpo.search.tune import callbacks

    reads: list[Trial] = []
    real = callbacks.best_score
    monkeypatch.setattr(callbacks, "best_score", lambda t: reads.append(t) or real(t))
    lines: list[str] = []
    printer = TrialPrinter(1, ["dense_units"], write=lines.append)
    trials: list[Trial] = []
    scores = [0.5, 0.7, 0.6, 0.7, 0.65] * 10
    for number, score in enumerate(scores, start=1):
        trials.append(ray_trial(number, [score]))
        printer.on_trial_complete(0, trials, trials[-1])
    assert lines[-1].endswith("Best: trial 2, 0.7000.")  # of equals, the lowest number
    assert len(reads) <= 2 * len(scores)
