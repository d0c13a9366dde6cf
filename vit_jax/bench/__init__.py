"""Benchmarks: the timing harness (timing.py: interleaved timers, matmul peak, XLA FLOP
counts), the JAX model cases (cases.py), the PyTorch reference models (torch_models.py), the
training-loop case (loop_case.py), the cases' order, time budget and failures (schedule.py),
the printed tables (table.py), and the input pipeline and conversion benchmarks (input.py,
conversion_case.py).

May import: common, models, data, checkpoints, training.
Imported by: the benchmark commands.
"""
