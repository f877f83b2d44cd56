"""Process-wide TensorFlow settings that must be made before TensorFlow starts."""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
import tempfile
from collections.abc import Iterator, Mapping
from typing import IO

log = logging.getLogger(__name__)

#: Set to 1 (``mnist-hpo --verbose`` does) to see the libraries' own log lines; inherited by
#: the processes a command starts (Ray's workers, export's reload check).
VERBOSE_ENV = "MNIST_HPO_VERBOSE"

#: The default ``TF_CPP_MIN_LOG_LEVEL``: TensorFlow's C++ errors only (0 info, 1 warnings).
TF_LOG_LEVEL = "2"

#: TensorFlow's oneDNN CPU kernels. TensorFlow turns them on by itself only on x86 CPUs with
#: AVX-512 VNNI or BF16 or with AMX; elsewhere (this project's 2-core AMD EPYC, AVX2) they are
#: off, and with them the tutorial's network trains 1.4x faster, alone or two trials at once
#: as a search runs them (``benchmarks/cpu_kernels.py``). Their sums differ from Eigen's in
#: the last bits, so a search's workers and the export that checks their records must agree:
#: both take this setting (``tensorflow_environment``).
ONEDNN_ENV, ONEDNN_DEFAULT = "TF_ENABLE_ONEDNN_OPTS", "1"

#: ``I0000 00:00:1796456703.839270    3627 port.cc:153] ...``: a line of absl's C++ logging.
_ABSL_LINE = re.compile(r"([IWEF])\d{4} \d\d:\d\d:\d+\.\d+\s+\d+ \S+:\d+\] ")
_ABSL_PREAMBLE = "WARNING: All log messages before absl::InitializeLog() is called"
_NO_CUDA_DRIVER = "Could not find cuda drivers on your machine"
_CUINIT_FAILED = "failed call to cuInit"

_started = False


def verbose() -> bool:
    """Whether the user asked for the libraries' own log lines (``--verbose`` or
    ``MNIST_HPO_VERBOSE=1``)."""
    return os.environ.get(VERBOSE_ENV, "").strip().lower() not in ("", "0", "false", "no")


def tensorflow_environment() -> dict[str, str]:
    """The environment TensorFlow should load with, in this process and in the workers it
    starts: :data:`ONEDNN_ENV` on, and TensorFlow's C++ info and warning lines kept out of
    the output unless ``--verbose``. A user's own value of either variable wins."""
    env = {ONEDNN_ENV: os.environ.get(ONEDNN_ENV, ONEDNN_DEFAULT)}
    if not verbose():
        env["TF_CPP_MIN_LOG_LEVEL"] = os.environ.get("TF_CPP_MIN_LOG_LEVEL", TF_LOG_LEVEL)
    return env


def recorded_kernels() -> dict[str, str]:
    """The part of :func:`tensorflow_environment` that changes a model's numbers (which CPU
    kernels): a search records it in its manifest, and export loads TensorFlow with it."""
    return {ONEDNN_ENV: tensorflow_environment()[ONEDNN_ENV]}


def follow_recorded_kernels(recorded: Mapping[str, str]) -> None:
    """Load TensorFlow, in this process and the processes it starts, with the kernels a
    search recorded (:func:`recorded_kernels`) rather than this version's default, so a
    re-evaluation matches the search's records to the last bits. A user's own value wins.
    Must run before TensorFlow starts."""
    for name, value in recorded.items():
        os.environ.setdefault(name, value)


def prepare_tensorflow() -> None:
    """Set :func:`tensorflow_environment` in this process (cheap: the environment only; must
    run before ``import tensorflow``, which reads it once)."""
    for name, value in tensorflow_environment().items():
        os.environ.setdefault(name, value)


def start_tensorflow() -> None:
    """Import TensorFlow and look up its devices, without its start-up chatter.

    TensorFlow 2.21's libraries log through absl while they load, before absl's logging is
    initialised, and those lines ignore ``TF_CPP_MIN_LOG_LEVEL`` (TensorFlow issue #100442):
    absl's notice that it is not initialised, "oneDNN custom operations are on", "Could not
    find cuda drivers". The first device lookup, on a machine without a CUDA driver, adds an
    error, "failed call to cuInit". So both steps write into a file, and what they wrote is
    passed on to stderr afterwards except: absl's notice, the lines below
    ``TF_CPP_MIN_LOG_LEVEL`` (the filtering TensorFlow meant to do), and the cuInit error
    when TensorFlow said in the same breath that there is no CUDA driver (one fact, told
    twice; on a machine with a driver a failed cuInit is a real fault and shows). Python's
    warnings and errors and any other line pass; an exception propagates. A crash inside
    TensorFlow's start-up would take its last words with it: ``--verbose`` holds nothing
    back. Listing the devices does not start TensorFlow's runtime (threads and GPU memory
    growth can still be set). Once per process.
    """
    global _started
    if _started:
        return
    prepare_tensorflow()
    if verbose() or "tensorflow" in sys.modules:
        _import_tensorflow()  # already loaded: its start-up lines are out, nothing to hold
    else:
        with tempfile.TemporaryFile() as held:
            try:
                with _stderr_into(held):
                    _import_tensorflow()
            finally:
                held.seek(0)
                text = held.read().decode(errors="replace")
                sys.stderr.write("".join(startup_lines_to_show(text, _min_log_level())))
                sys.stderr.flush()
    _started = True


def startup_lines_to_show(text: str, min_level: int) -> list[str]:
    """The lines of TensorFlow's start-up output (``text``) that are not chatter at
    ``TF_CPP_MIN_LOG_LEVEL`` ``min_level`` (see ``start_tensorflow``), with their newlines."""
    no_driver = _NO_CUDA_DRIVER in text
    shown = []
    for line in text.splitlines(keepends=True):
        if line.startswith(_ABSL_PREAMBLE):
            continue
        header = _ABSL_LINE.match(line)
        if header and "IWEF".index(header.group(1)) < min_level:
            continue
        if header and no_driver and _CUINIT_FAILED in line:
            continue
        shown.append(line)
    return shown


def _import_tensorflow() -> None:
    import tensorflow as tf

    # The CUDA platform starts (and, without a driver, fails) at the first device lookup.
    tf.config.list_physical_devices()


def _min_log_level() -> int:
    try:
        return int(os.environ.get("TF_CPP_MIN_LOG_LEVEL", "0"))
    except ValueError:
        return 0


@contextlib.contextmanager
def _stderr_into(file: IO[bytes]) -> Iterator[None]:
    """Point file descriptor 2 (where C++ libraries write, not only ``sys.stderr``) at
    ``file`` for the block."""
    sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:  # no stderr at all (a daemon): nothing to keep clean
        yield
        return
    try:
        os.dup2(file.fileno(), 2)
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)


def set_threads(threads: int | None) -> None:
    """Start TensorFlow (``start_tensorflow``) with ``threads`` CPU threads (``None``: all
    cores, TF's default).

    Concurrent trials each get their share of the cores this way instead of every
    process spinning one thread per core. TensorFlow fixes its pools when its runtime
    starts, so this must run before the first TensorFlow operation of the process.
    """
    start_tensorflow()
    if not threads:
        return
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    except RuntimeError:
        # The runtime already started in this process (a reused worker); its pools stay.
        current = tf.config.threading.get_intra_op_parallelism_threads()
        if current != threads:
            log.warning("TensorFlow already runs with %s intra-op threads; cannot switch to %s "
                        "in this process", current or "default", threads)
