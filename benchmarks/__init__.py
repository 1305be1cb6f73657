"""memae's benchmarks: the paper reproductions, the leaderboard and the speed runs.

They live outside the library (``import memae`` loads none of this, nor PyOD):
:mod:`benchmarks.runners` holds the runners, report writers, paper constants and
shallow baselines; the scripts beside it (``python benchmarks/kdd.py``, ...) and
``memae benchmark NAME`` (from a clone) call them. Evaluation protocols stay in
:mod:`memae.evaluation`.
"""
