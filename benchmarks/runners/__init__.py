"""Benchmark runners (one module per benchmark), report writers and baselines."""
