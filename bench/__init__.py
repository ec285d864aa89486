"""Benchmarks (not tests): `bench/rush.py` and its helpers; results in docs/BENCHMARKS.md."""
