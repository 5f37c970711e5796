"""`asr-audit explain RULE-ID`: the rule's page, offline, from the package; and the pages really
ship in the wheel (built here without build isolation, so nothing is downloaded)."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from asr_audit import __version__
from asr_audit.app.catalog import DOCUMENT_NOTE, DOCUMENTS, GENERATED_NOTE
from asr_audit.app.cli import main
from asr_audit.rules.catalog import default_catalog

ROOT = Path(__file__).resolve().parent.parent
PAGES = ROOT / "asr_audit" / "rule_pages"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def page_without_note(rule_id: str) -> str:
    text = (PAGES / f"{rule_id}.md").read_text("utf-8")
    note = GENERATED_NOTE.format(id=rule_id) + "\n\n"
    assert text.startswith(note)  # the editors' note is the one thing left out
    return text[len(note) :]


def test_every_rule_is_explained_by_its_page(capsys: pytest.CaptureFixture[str]) -> None:
    for rule_id in default_catalog().ids():
        code, out, err = run(capsys, "explain", rule_id)
        assert (code, err) == (0, "")
        assert out == page_without_note(rule_id)
        assert out.startswith(f"# {rule_id}: ")


def test_a_document_the_pages_link_is_explained_from_its_shipped_copy(
    capsys: pytest.CaptureFixture[str],
) -> None:
    source = (ROOT / "docs" / "other-scanners.md").read_text("utf-8")
    note = DOCUMENT_NOTE.format(name="other-scanners")
    assert (PAGES / "other-scanners.md").read_text("utf-8") == f"{note}\n\n{source}"
    for typed in ("other-scanners", " Other-Scanners "):
        assert run(capsys, "explain", typed) == (0, source, "")
    assert "other-scanners.md" in (PAGES / "STG-CACHE-KEY-ACCESS.md").read_text("utf-8")
    assert "asr-audit explain other-scanners" in (PAGES / "STG-CACHE-SOFT-DELETE.md").read_text("utf-8")


def test_the_id_may_be_in_any_case(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "explain", " net-nsg-outbound ")[1] == page_without_note("NET-NSG-OUTBOUND")


@pytest.mark.parametrize(
    ("typed", "hint"),
    [
        ("NET-NSG-OUTBOND", "did you mean NET-NSG-OUTBOUND"),
        ("vm-nam", "did you mean VM-NAME"),
        ("XYZ", "see: asr-audit rules"),
        ("other-scaners", "did you mean OTHER-SCANNERS"),
    ],
)
def test_an_unknown_id_is_exit_2_with_the_closest_ids(
    capsys: pytest.CaptureFixture[str], typed: str, hint: str
) -> None:
    code, out, err = run(capsys, "explain", typed)
    assert (code, out) == (2, "")
    (line,) = err.splitlines()
    assert line.startswith(f"asr-audit: error: no rule '{typed}': ") and hint in line


def test_flags_before_the_subcommand_count(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    out = tmp_path / "page.md"
    assert run(capsys, "--out", str(out), "explain", "DSK-SIZE") == (0, "", "")
    assert out.read_text("utf-8") == page_without_note("DSK-SIZE")
    code, _, err = run(capsys, "-o", "json", "explain", "DSK-SIZE")
    assert code == 2 and "explain prints the rule's Markdown page: drop --output json" in err


def test_the_wheel_ships_every_page_and_explain_reads_it_from_there(tmp_path: Path) -> None:
    """The installed-wheel case: the package imported from the built wheel's files, not the
    work tree, prints the page."""
    builders = pytest.importorskip("hatchling.builders.wheel")
    (wheel,) = builders.WheelBuilder(str(ROOT)).build(directory=str(tmp_path / "dist"), versions=["standard"])
    assert Path(wheel).name == f"asr_audit-{__version__}-py3-none-any.whl"
    with zipfile.ZipFile(wheel) as archive:
        shipped = {n for n in archive.namelist() if n.startswith("asr_audit/rule_pages/")}
        archive.extractall(tmp_path / "site")
    expected = {f"asr_audit/rule_pages/{p.name}" for p in PAGES.glob("*.md")}
    assert shipped == expected
    assert len(expected) == len(default_catalog().ids()) + 1 + len(DOCUMENTS)  # + README.md
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "site")}
    for topic, page in [
        ("STG-CACHE-KIND", page_without_note("STG-CACHE-KIND")),
        ("other-scanners", (ROOT / "docs" / "other-scanners.md").read_text("utf-8")),
    ]:
        script = (
            "import sys, asr_audit; from asr_audit.app.cli import main; "
            f"print(asr_audit.__file__, file=sys.stderr); sys.exit(main(['explain', {topic!r}]))"
        )
        done = subprocess.run(
            [sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, done.stderr
        assert done.stderr.startswith(str(tmp_path / "site"))  # the wheel's copy, not the work tree
        assert done.stdout == page
