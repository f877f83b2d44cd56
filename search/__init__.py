"""Runs searches, in three rooms with one direction of dependency::

    mnist_hpo.spaces  <-  search.training  <-  search.tune  <-  search.cli

- ``training``: one configuration's data, model and fit (TensorFlow; nothing of Ray).
- ``tune``: Ray Tune + Optuna: settings, the factories of Ray and Optuna objects, the
  searcher, the trainable, callbacks, driver, extend, manifest.
- ``cli``: what the user types (``mnist-hpo``).

``errors`` (the exceptions whose message is for the user) and ``outputs`` (folders and
files a run writes) serve all three. ``mnist_hpo.reports`` reads what a search wrote and
never imports ``tune`` or ``cli``.
"""
