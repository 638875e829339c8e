"""Both languages are complete: every string the pages mark for translation has a zh_CN translation."""

from __future__ import annotations

from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]
TRANSLATIONS = ROOT / "opsloom" / "platform" / "translations"
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "lazy_gettext": None}


#: the parts whose pages share the platform's catalog (see babel.cfg)
PARTS = ("platform", "form_engine")


def _marked_strings() -> set[str]:
    """Extract as ``pybabel extract -F .../babel.cfg opsloom/platform opsloom/form_engine`` does."""
    method_map = [("**.py", "python"), ("templates/**.html", "jinja2")]
    found = set()
    for part in PARTS:
        for _file, _line, message, _comments, _context in extract_from_dir(
            str(ROOT / "opsloom" / part), method_map=method_map, keywords=KEYWORDS
        ):
            found.add(message if isinstance(message, str) else message[0])
    return found


def _catalog(path: Path) -> dict[str, str]:
    with path.open("rb") as handle:
        return {m.id: m.string for m in read_po(handle) if m.id and isinstance(m.id, str)}


def test_every_marked_string_has_a_chinese_translation() -> None:
    chinese = _catalog(TRANSLATIONS / "zh_Hans_CN" / "LC_MESSAGES" / "messages.po")
    missing = sorted(s for s in _marked_strings() if not chinese.get(s))
    assert missing == [], (
        "untranslated strings; run pybabel extract/update (see opsloom/platform/translations/babel.cfg) "
        f"and translate: {missing}"
    )


def test_placeholders_survive_translation() -> None:
    import re

    placeholder = re.compile(r"%\((\w+)\)s")
    chinese = _catalog(TRANSLATIONS / "zh_Hans_CN" / "LC_MESSAGES" / "messages.po")
    for source, translated in chinese.items():
        assert sorted(placeholder.findall(source)) == sorted(placeholder.findall(translated)), source
        assert ("<" in source) == ("<" in translated), source  # markup in messages must match


def test_the_template_lists_what_the_catalog_holds() -> None:
    template = _catalog(TRANSLATIONS / "messages.pot")
    assert set(template) >= _marked_strings()
