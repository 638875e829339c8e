"""Dispatch ``python -m bench NAME [ARGS...]`` to ``bench.NAME.main(ARGS)``; ``all`` runs every benchmark."""

from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path

HERE = Path(__file__).parent


def _names() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules([str(HERE)]) if not m.name.startswith("_"))


def main(argv: list[str]) -> int:
    names = _names()
    if not argv or argv[0] in ("-h", "--help"):
        print("usage: python -m bench NAME [ARGS...]   (NAME: all, " + ", ".join(names) + ")")
        return 0 if argv else 2
    name, rest = argv[0], argv[1:]
    if name == "all":
        for each in names:
            print(f"== {each}")
            importlib.import_module(f"bench.{each}").main(rest)
        return 0
    if name not in names:
        print(f"unknown benchmark {name!r}; choose one of: {', '.join(names)}", file=sys.stderr)
        return 2
    importlib.import_module(f"bench.{name}").main(rest)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
