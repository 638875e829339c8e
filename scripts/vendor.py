"""Copy the front-end files the pages use from ``node_modules`` into ``opsloom/platform/static/vendor/``.

Run after ``npm ci`` (the Makefile does). Only the distribution files the templates load
are copied, with each package's licence, plus ``manifest.json`` naming the versions; the
target folder is git-ignored and rebuilt from scratch on every run. No CDN is used at run
time: the pages load everything from ``/static``. Standard library only.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NODE_MODULES = ROOT / "node_modules"
TARGET = ROOT / "opsloom" / "platform" / "static" / "vendor"

#: npm package -> (folder under vendor/, [(file in the package, file name in the folder)])
FILES: dict[str, tuple[str, list[tuple[str, str]]]] = {
    "htmx.org": ("htmx", [("dist/htmx.min.js", "htmx.min.js")]),
    # the CSP build: no eval, components are registered with Alpine.data() from our own files
    "@alpinejs/csp": ("alpinejs", [("dist/cdn.min.js", "alpine-csp.min.js")]),
    "sortablejs": ("sortablejs", [("Sortable.min.js", "Sortable.min.js")]),
    "tom-select": (
        "tom-select",
        [
            ("dist/js/tom-select.complete.min.js", "tom-select.complete.min.js"),
            ("dist/css/tom-select.default.min.css", "tom-select.default.min.css"),
        ],
    ),
    "echarts": ("echarts", [("dist/echarts.min.js", "echarts.min.js")]),
    "swagger-ui-dist": (
        "swagger-ui",
        [
            ("swagger-ui-bundle.js", "swagger-ui-bundle.js"),
            ("swagger-ui.css", "swagger-ui.css"),
        ],
    ),
}

LICENCE_NAMES = ("LICENSE", "LICENSE.md", "LICENSE.txt", "license", "LICENCE")


def _strip_source_map(path: Path) -> None:
    """Drop the ``sourceMappingURL`` comment: the maps are not shipped, so browsers must not ask."""
    text = path.read_text(encoding="utf-8")
    lines = text.rstrip("\n").split("\n")
    if lines and "sourceMappingURL=" in lines[-1]:
        path.write_text("\n".join(lines[:-1]) + "\n", encoding="utf-8")


def copy_all(node_modules: Path = NODE_MODULES, target: Path = TARGET) -> dict[str, str]:
    """Copy every listed file; return ``{package: version}``.

    :raises SystemExit: ``node_modules`` or a listed file is missing (run ``npm ci`` first).
    """
    if not node_modules.is_dir():
        raise SystemExit(f"{node_modules} does not exist: run `npm ci` in {ROOT} first.")
    if target.exists():
        shutil.rmtree(target)
    versions: dict[str, str] = {}
    for package, (folder, files) in FILES.items():
        source_root = node_modules / package
        manifest = source_root / "package.json"
        if not manifest.is_file():
            raise SystemExit(f"npm package {package} is not installed: run `npm ci` in {ROOT}.")
        versions[package] = json.loads(manifest.read_text(encoding="utf-8"))["version"]
        destination = target / folder
        destination.mkdir(parents=True, exist_ok=True)
        for relative, name in files:
            source = source_root / relative
            if not source.is_file():
                raise SystemExit(
                    f"{package} {versions[package]} has no {relative}; update scripts/vendor.py."
                )
            shutil.copyfile(source, destination / name)
            if name.endswith((".js", ".css")):
                _strip_source_map(destination / name)
        for licence in LICENCE_NAMES:
            if (source_root / licence).is_file():
                shutil.copyfile(source_root / licence, destination / "LICENSE")
                break
    (target / "manifest.json").write_text(json.dumps(versions, indent=2, sort_keys=True) + "\n")
    return versions


def main() -> int:
    versions = copy_all()
    for package, version in sorted(versions.items()):
        print(f"vendored {package} {version}")
    print(f"-> {TARGET.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
