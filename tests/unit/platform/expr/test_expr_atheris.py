"""Coverage-guided fuzzing with atheris (libFuzzer) when it is installed, in a bounded subprocess.

libFuzzer ends its process when it finishes, so the harness runs as ``python this_file``
with ``-runs``/``-max_total_time`` bounds; any exception other than ``ExprError`` (or a
hang past the bound) fails the test. Skipped when atheris is not installed (it is an
optional dev tool: ``pip install atheris``).
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys

import pytest


def test_atheris_finds_nothing() -> None:
    pytest.importorskip("atheris")
    done = subprocess.run(
        [sys.executable, __file__, "-runs=20000", "-max_total_time=20", "-timeout=10", "-rss_limit_mb=2048"],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


def _fuzz() -> None:
    import importlib

    import atheris

    # Import the libraries first so that only opsloom's own modules get instrumented (fast start).
    for library in ("dateutil.relativedelta", "lark", "re2", "sqlalchemy"):
        importlib.import_module(library)
    with atheris.instrument_imports():
        from opsloom.platform.expr import ExprError, Limits, evaluate, parse_formula, to_formula

    limits = Limits(max_string=2_000, max_list=200, max_iterations=5_000, max_seconds=0.5)

    def one_input(raw: bytes) -> None:
        provider = atheris.FuzzedDataProvider(raw)
        text = provider.ConsumeUnicodeNoSurrogates(200)
        try:
            expr = json.loads(text)
        except (ValueError, RecursionError):
            expr = None
        if expr is not None:
            with contextlib.suppress(ExprError):
                evaluate(expr, {"a": 1, "b": "x", "xs": [1, 2]}, limits=limits)
            with contextlib.suppress(ExprError):
                parse_formula(to_formula(expr))
        with contextlib.suppress(ExprError):
            parse_formula(text, limits=limits)

    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    _fuzz()
