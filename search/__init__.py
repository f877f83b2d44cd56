"""Runs searches, in three rooms with one direction of dependency::

    mnist_hpo.spaces  <-  search.training  <-  search.tune  <-  search.cli

- ``training``: one configuration's data, model and fit (TensorFlow; nothing of Ray).
- ``tune``: Ray Tune + Optuna: settings, the factories of Ray and Optuna objects, the
  searcher, the trainable, callbacks, driver, extend, manifest.
- ``cli``: what the user types (``mnist-hpo``).

``errors`` (the exceptions whose message is for the user) and ``outputs`` (folders and
files a run writes) serve all three. ``policy`` holds the search's decisions (pure, no
Ray). ``experiment`` is the experiment folder's format, in one place: ``tune`` writes with
it, and ``mnist_hpo.reports``, which reads what a search wrote and never imports ``tune`` or
``cli``, reads with it.
"""
