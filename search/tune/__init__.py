"""Ray Tune + Optuna: what a search is asked to do (``settings``), the factories that build
Ray's and Optuna's objects from it (``factories``), the searcher that tells Optuna what
happened (``searcher``), the search's decisions behind Ray's scheduler interface
(``scheduler``: the rules are ``mnist_hpo.search.policy``'s, this translates Ray's trials
into the policy's snapshot and its decisions back), one trial (``trainable``), driver-side
callbacks and
stoppers (``callbacks``), the driver (``driver``, ``extend``) and ``search.json``
(``manifest``).

Ray and Optuna are imported by the modules that need them, not by this package, so the
command line starts without them.
"""
