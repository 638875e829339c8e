"""Benchmarks: ``python -m bench NAME`` prints ratios against a peer or the hand-written limit.

Each benchmark module has ``main(argv: list[str]) -> None``. Timings are measured in one run
on this machine and reported as ratios; tests never assert on time.
"""
