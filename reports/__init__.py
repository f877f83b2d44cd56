"""Reading what a search did: leaderboard, plots, HTML report, best-model export.

Everything here works on the experiment directory alone, as plain trial records, without
TensorFlow or Ray. The package is reserved for that work (issue 4) and is empty until then.
"""
