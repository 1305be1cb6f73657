"""Every detector on the ODDS datasets and Toll's Arrhythmia. Same as ``memae benchmark all``.

python benchmarks/leaderboard.py [--quick] [--readme README.md]
"""

from memae.benchmarks.leaderboard import main

if __name__ == "__main__":
    main(prog="python benchmarks/leaderboard.py")
