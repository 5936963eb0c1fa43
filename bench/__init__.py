"""Benchmarks of the monitor's storage cost, throughput and cycle scaling.

Each benchmark is a module run as ``python -m bench.<name>``; it prints a result
block and writes ``bench/results/<name>.json``. See ``bench/README.md``.
"""
