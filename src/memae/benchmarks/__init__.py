"""Benchmark runners (also scripts under ``benchmarks/`` and ``memae benchmark ...``)."""
