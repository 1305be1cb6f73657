"""Benchmark runners (one module per benchmark), report writers and baselines."""

# The accuracy benchmarks run in float32 whatever the CPU: their tables gather fits from
# several machines (and sessions), and precision="auto" is bf16 on some of them and
# float32 on others. The bf16 effect is measured on its own by benchmarks/precision.py
# (speed-up, AUC difference) and benchmarks/speed.py (throughput).
BENCH_PRECISION = {"precision": "fp32"}
