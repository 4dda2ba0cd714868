"""Benchmarks: run as modules (`python -m bench.NAME`), never collected as tests."""
