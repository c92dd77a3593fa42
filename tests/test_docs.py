"""Checks on README.md and docs/*.md: the README's promises, links that resolve, a CLI reference that matches --help.

What is checked: README.md stays within 200 lines and opens with the two set-up commands that
.ci/run runs; every relative link (file and #anchor, GitHub's heading slugs) in README.md and
docs/*.md points at something that exists; docs/cli.md has a section for every command of
`wsal --help` naming each of its options, and README.md's command table names every command.
What is not checked: the prose itself, or links to the web.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from wsal.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
DOCS = sorted((ROOT / "docs").glob("*.md"))
SETUP_COMMANDS = [
    'pip install torch==2.13.0 && pip install -e ".[dev,video]" && wsal demo',
    'pip install torch==2.13.0 && pip install -e ".[dev,video]" && python -m pytest -q',
]
# Added to the repository separately from the text that shows it; checked on its own below.
SCREENSHOT = "docs/run-page.png"

FENCE = re.compile(r"^(```|~~~).*?^\1[^\n]*$", re.S | re.M)
CODE_SPAN = re.compile(r"`[^`\n]*`")
LINK = re.compile(r"!?\[[^\]\n]*\]\(([^)\s]+)\)")
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.M)


def _prose(text: str) -> str:
    """Markdown without fenced blocks and code spans (links and headings there do not count)."""
    return CODE_SPAN.sub("", FENCE.sub("", text))


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation but '-' and '_' dropped, spaces -> '-'."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link in a heading: its text
    text = re.sub(r"[^\w\- ]", "", text.strip().lower())
    return text.replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    anchors = set()
    for match in HEADING.finditer(FENCE.sub("", path.read_text(encoding="utf-8"))):
        slug = _slug(match.group(1))
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        anchors.add(slug if count == 0 else f"{slug}-{count}")
    return anchors


def _relative_links(path: Path) -> list[str]:
    return [
        target
        for target in LINK.findall(_prose(path.read_text(encoding="utf-8")))
        if not re.match(r"^[a-z][a-z0-9+.-]*:", target)  # http:, https:, mailto:
    ]


def _broken_links(path: Path, root: Path = ROOT) -> list[str]:
    broken = []
    for target in _relative_links(path):
        file_part, _, anchor = target.partition("#")
        resolved = (path.parent / file_part).resolve() if file_part else path.resolve()
        if resolved == (ROOT / SCREENSHOT).resolve():
            continue
        if not resolved.exists():
            broken.append(f"{target}: no such file")
        elif anchor and resolved.suffix != ".md":
            broken.append(f"{target}: an anchor into a file that is not markdown")
        elif anchor and anchor not in _anchors(resolved):
            broken.append(f"{target}: no heading #{anchor} in {resolved.relative_to(root.resolve())}")
    return broken


def _subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    (action,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(action.choices)


def _cli_sections() -> dict[str, str]:
    """docs/cli.md's `## wsal COMMAND` sections, by command."""
    text = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    parts = re.split(r"^## wsal ([a-z-]+)\s*$", text, flags=re.M)
    return dict(zip(parts[1::2], parts[2::2]))


def test_readme_is_at_most_200_lines():
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 200, f"README.md has {len(lines)} lines"


def test_readme_first_code_block_is_the_two_setup_commands_ci_runs():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    first = FENCE.search(text)
    assert first is not None, "README.md has no code block"
    body = [line for line in first.group(0).splitlines()[1:-1] if line.strip()]
    assert body == SETUP_COMMANDS
    ci_lines = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert SETUP_COMMANDS[1] in ci_lines, ".ci/run does not run README's test command"
    assert ".ci/run` runs exactly the second command" in text


def test_slug_matches_github_for_code_and_punctuation():
    assert _slug("`wsal run`") == "wsal-run"
    assert _slug("The HDF5 store schema (`SCHEMA_VERSION` 1)") == "the-hdf5-store-schema-schema_version-1"
    assert _slug("Learned sampler (`--sampler learned`, `features/skim.py`)") == "learned-sampler---sampler-learned-featuresskimpy"
    assert _slug("Hard synthetic benchmark (measured)") == "hard-synthetic-benchmark-measured"
    assert _slug("The THUMOS-14 kit's detection txt") == "the-thumos-14-kits-detection-txt"


def test_link_check_finds_broken_links(tmp_path):
    (tmp_path / "b.md").write_text("# Other page\n")
    (tmp_path / "a.md").write_text(
        "# Title\n\n[ok](#title) [bad](#nope) [gone](missing.md) [other](b.md#other-page)\n"
        "[wrong](b.md#title) `[code](x.md)` [web](https://example.com/x.md)\n\n```\n# not a heading\n[in code](y.md)\n```\n"
    )
    assert _broken_links(tmp_path / "a.md", tmp_path) == [
        "#nope: no heading #nope in a.md",
        "missing.md: no such file",
        "b.md#title: no heading #title in b.md",
    ]


@pytest.mark.parametrize("path", [ROOT / "README.md", *DOCS], ids=lambda p: p.relative_to(ROOT).as_posix())
def test_relative_links_resolve(path):
    assert _broken_links(path) == []


def test_readme_and_cli_reference_have_links_to_check():
    assert len(_relative_links(ROOT / "README.md")) > 10
    assert len(_relative_links(ROOT / "docs" / "cli.md")) > 10


def test_run_page_screenshot_is_a_png():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert f"]({SCREENSHOT})" in readme
    path = ROOT / SCREENSHOT
    if not path.exists():
        pytest.skip(f"{SCREENSHOT} not added yet")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_reference_has_every_command_and_option():
    sections = _cli_sections()
    commands = _subcommands()
    assert sorted(sections) == sorted(commands), "docs/cli.md sections differ from `wsal --help`"
    missing = [
        f"wsal {name} {option}"
        for name, sub in commands.items()
        for action in sub._actions
        for option in action.option_strings
        if option.startswith("--") and option != "--help" and option not in sections[name]
    ]
    assert missing == [], "options of --help that docs/cli.md does not name in the command's section"


def test_readme_command_table_names_every_command():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for name in _subcommands():
        assert f"[`wsal {name}`](docs/cli.md#wsal-{name})" in readme, name
