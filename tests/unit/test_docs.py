"""The README is a short front door, every page of the manual is reachable from it, and no link
in the manual points at a file or a heading that does not exist."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
DESTINATIONS_INDEX = DOCS / "destinations" / "README.md"
README_MAX_LINES = 200

_FENCE = re.compile(r"^(```|~~~).*?^\1[^\n]*$", re.MULTILINE | re.DOTALL)
_CODE_SPAN = re.compile(r"(`+)(?!`).*?(?<!`)\1(?!`)", re.DOTALL)
_LINK = re.compile(r"\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)
_EXTERNAL = re.compile(r"^[a-z][a-z0-9+.-]*:", re.IGNORECASE)


def _prose(text: str) -> str:
    """The text with fenced code blocks removed and code spans blanked (links inside code are not links)."""
    return _CODE_SPAN.sub("code", _FENCE.sub("", text))


def _links(page: Path) -> list[str]:
    """Every relative link target of a markdown page, as written (path and optional #anchor)."""
    targets = _LINK.findall(_prose(page.read_text(encoding="utf-8")))
    return [t for t in targets if not _EXTERNAL.match(t)]


def _resolve(page: Path, target: str) -> tuple[Path, str]:
    """The file a relative link points at, and its anchor ("" when none)."""
    path, _, anchor = target.partition("#")
    return ((page.parent / path).resolve() if path else page.resolve()), anchor


def _slug(heading: str) -> str:
    """A heading's anchor as GitHub makes it: markup dropped, lower case, punctuation removed, spaces to hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)
    text = text.replace("`", "").replace("*", "").lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    """Every anchor a markdown page's headings give (a repeated heading gets -1, -2, ... as on GitHub)."""
    seen: Counter[str] = Counter()
    anchors = set()
    for heading in _HEADING.findall(_FENCE.sub("", page.read_text(encoding="utf-8"))):
        slug = _slug(heading)
        anchors.add(slug if not seen[slug] else f"{slug}-{seen[slug]}")
        seen[slug] += 1
    return anchors


def _linked_from(page: Path) -> set[Path]:
    return {_resolve(page, target)[0] for target in _links(page)}


def _manual_pages() -> list[Path]:
    """README.md, CONTRIBUTING.md, CHANGELOG.md, benchmarks/README.md and every markdown file under docs/."""
    tops = [ROOT / name for name in ("README.md", "CONTRIBUTING.md", "CHANGELOG.md", "benchmarks/README.md")]
    return tops + sorted(DOCS.rglob("*.md"))


def test_readme_is_at_most_200_lines() -> None:
    lines = README.read_text(encoding="utf-8").count("\n")
    assert lines <= README_MAX_LINES, f"README.md has {lines} lines; the manual's detail belongs under docs/"


def test_every_docs_page_is_linked_from_the_readme() -> None:
    """Each file under docs/ (destination pages may instead hang off docs/destinations/README.md,
    itself linked from the README), CONTRIBUTING.md, CHANGELOG.md and benchmarks/README.md."""
    from_readme = _linked_from(README)
    via_index = _linked_from(DESTINATIONS_INDEX) if DESTINATIONS_INDEX.resolve() in from_readme else set()
    wanted = [p for p in DOCS.rglob("*") if p.is_file()]
    wanted += [ROOT / "CONTRIBUTING.md", ROOT / "CHANGELOG.md", ROOT / "benchmarks" / "README.md"]
    missing = []
    for path in wanted:
        resolved = path.resolve()
        if resolved in from_readme:
            continue
        if resolved.parent == (DOCS / "destinations").resolve() and resolved in via_index:
            continue
        missing.append(str(path.relative_to(ROOT)))
    assert not missing, f"not reachable from README.md: {sorted(missing)}"


@pytest.mark.parametrize("page", _manual_pages(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_points_at_a_file_and_heading_that_exist(page: Path) -> None:
    broken = []
    for target in _links(page):
        path, anchor = _resolve(page, target)
        if not path.exists():
            broken.append(f"{target}: no such file")
        elif anchor and path.suffix == ".md" and anchor not in _anchors(path):
            broken.append(f"{target}: no heading with anchor #{anchor} in {path.relative_to(ROOT)}")
    assert not broken, f"{page.relative_to(ROOT)}: {broken}"


@pytest.mark.parametrize(
    ("heading", "anchor"),
    [
        ("Schedules: `push --due`", "schedules-push---due"),
        ("Matching rules: `match_on`, `on_update`, `lists`", "matching-rules-match_on-on_update-lists"),
        ("Lineage: exposures", "lineage-exposures"),
        ("Connections: `revsync.yml`", "connections-revsyncyml"),
    ],
)
def test_anchors_are_made_as_github_makes_them(heading: str, anchor: str) -> None:
    assert _slug(heading) == anchor
