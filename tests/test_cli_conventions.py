"""Command-line conventions (DESIGN.md §8.3, issue 12): `-o` for `--output`, `--out FILE` naming
the format by its extension, flags honoured on either side of a subcommand, and the demo saying
that its 403 is staged."""

from __future__ import annotations

import argparse
import csv
import io
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from asr_audit.app.arguments import DEFAULT_OUTPUT, OUT_EXTENSIONS, build_parser, output_format
from asr_audit.app.cli import main
from asr_audit.report import FORMATS
from asr_audit.report.csv_report import COLUMNS

# A valid value for each option that takes one (by argparse `dest`); others get "x".
SAMPLE = {
    "vault": "rsv-x",
    "subscription": "Fabrikam Prod",
    "out": "r.json",
    "save_snapshot": "s.json",
    "arm_endpoint": "https://arm.example.invalid",
    "timeout": "5",
    "deadline": "5",
    "concurrency": "4",
}


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def snapshot(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The demo estate, saved once, so each format run below analyses without replaying."""
    path = tmp_path_factory.mktemp("demo") / "demo.json"
    assert (
        main(
            [
                "demo",
                "--quiet",
                "-o",
                "json",
                "--out",
                str(path.with_suffix(".out")),
                "--save-snapshot",
                str(path),
            ]
        )
        == 0
    )
    return str(path)


def subcommand(name: str) -> argparse.ArgumentParser:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    found: argparse.ArgumentParser = sub.choices[name]
    return found


def argv_for(action: argparse.Action) -> list[str]:
    flag = action.option_strings[-1]
    if action.nargs == 0:
        return [flag]
    value = next(iter(action.choices)) if action.choices else SAMPLE.get(action.dest, "x")
    return [flag, value]


DEMO_OPTIONS = [a for a in subcommand("demo")._actions if a.option_strings and a.dest != "help"]


@pytest.mark.parametrize("action", DEMO_OPTIONS, ids=[a.option_strings[-1] for a in DEMO_OPTIONS])
def test_every_demo_option_means_the_same_before_the_subcommand(action: argparse.Action) -> None:
    """Each option of `demo` is also accepted before it, with the same meaning: argparse would
    otherwise let the subcommand's default silently replace what was given first."""
    given = argv_for(action)
    before = vars(build_parser().parse_args([*given, "demo"]))
    after = vars(build_parser().parse_args(["demo", *given]))
    assert before == after
    assert before[action.dest] not in (None, False, [])  # given, not a default


def options_unused_by(command: str) -> list[argparse.Action]:
    used = {a.dest for a in subcommand(command)._actions} | {"quiet", "help", "version"}
    return [a for a in build_parser()._actions if a.option_strings and a.dest not in used]


@pytest.mark.parametrize(
    ("command", "action"),
    [(c, a) for c in ("demo", "rules", "explain") for a in options_unused_by(c)],
    ids=lambda v: v if isinstance(v, str) else v.option_strings[-1],
)
def test_a_flag_the_subcommand_cannot_use_is_refused_not_dropped(
    capsys: pytest.CaptureFixture[str], command: str, action: argparse.Action
) -> None:
    """`asr-audit --timeout 5 demo` would otherwise replay with no timeout and say nothing."""
    argv = [*argv_for(action), command, *(["VM-NAME"] if command == "explain" else [])]
    code, out, err = run(capsys, *argv)
    assert (code, out) == (2, "")
    (line,) = err.splitlines()
    assert line.startswith("asr-audit: error: ") and action.option_strings[-1] in line


def test_o_is_output_everywhere() -> None:
    parser = build_parser()
    assert parser.parse_args(["-o", "sarif", "demo"]).output == "sarif"
    assert parser.parse_args(["demo", "-o", "sarif"]).output == "sarif"
    assert parser.parse_args(["rules", "-o", "json"]).output == "json"
    assert parser.parse_args(["--snapshot", "s.json", "-o", "csv"]).output == "csv"


def test_rules_honours_flags_before_it(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, _ = run(capsys, "-o", "json", "rules")
    assert code == 0 and json.loads(out)["rules"]
    catalog = tmp_path / "catalog.md"
    assert run(capsys, "--out", str(catalog), "rules") == (0, "", "")
    assert catalog.read_text("utf-8").startswith("# asr-audit rule catalog")  # .md: Markdown
    code, _, err = run(capsys, "rules", "--out", str(tmp_path / "catalog.sarif"))
    assert code == 2 and "give --output (table, json, markdown)" in err
    assert not (tmp_path / "catalog.sarif").exists()


@pytest.mark.parametrize("columns", ["60", "80", "120"])
def test_the_catalog_fits_the_width_like_the_report(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], columns: str
) -> None:
    monkeypatch.setenv("COLUMNS", columns)
    code, out, _ = run(capsys, "rules")
    assert code == 0
    wide = [line for line in out.splitlines() if len(line) > int(columns)]
    # Only a token too long for any line (a URL, a cmdlet name), whole, after at most a label.
    assert all(len(line.split()) <= 2 and len(line.split()[-1]) > int(columns) - 12 for line in wide)


@pytest.mark.parametrize(("extension", "fmt"), sorted(OUT_EXTENSIONS.items()))
def test_out_extension_names_the_format(
    capsys: pytest.CaptureFixture[str], snapshot: str, tmp_path: Path, extension: str, fmt: str
) -> None:
    out = tmp_path / f"report{extension.upper()}"  # any case
    code, stdout, _ = run(capsys, "--snapshot", snapshot, "--fail-on", "none", "--quiet", "--out", str(out))
    assert (code, stdout) == (4, "")  # the demo's staged gap: the scan is incomplete
    text = out.read_text("utf-8")
    readers = {
        "json": lambda: json.loads(text)["schema_version"],
        "sarif": lambda: json.loads(text)["version"] == "2.1.0",
        "junit": lambda: ET.fromstring(text.encode("utf-8")).tag == "testsuites",
        "markdown": lambda: text.startswith("# asr-audit report"),
        "csv": lambda: tuple(next(csv.reader(io.StringIO(text)))) == COLUMNS,
        "table": lambda: bool(re.match(r"\d+ findings: \d+ high", text)),
        "html": lambda: text.lower().startswith("<!doctype html>"),
    }
    assert readers[fmt]()


def test_html_is_inferred_only_where_the_format_exists() -> None:
    assert OUT_EXTENSIONS.get(".html") == ("html" if "html" in FORMATS else None)


@pytest.mark.parametrize(
    ("output", "out", "expected"),
    [
        (None, None, DEFAULT_OUTPUT),
        ("json", "report.sarif", "json"),  # --output wins over the extension
        (None, "dir.d/report.SARIF", "sarif"),
        (None, "report.txt", "table"),
    ],
)
def test_output_format(output: str | None, out: str | None, expected: str) -> None:
    assert output_format(output, out, tuple(FORMATS)) == expected


@pytest.mark.parametrize("name", ["report.pdf", "report", "report.yaml"])
def test_an_extension_that_names_no_format_is_exit_2_before_the_scan(
    capsys: pytest.CaptureFixture[str], snapshot: str, tmp_path: Path, name: str
) -> None:
    out = tmp_path / name
    code, stdout, err = run(capsys, "--snapshot", snapshot, "--out", str(out))
    assert (code, stdout) == (2, "")
    (line,) = err.splitlines()
    assert line.startswith(f"asr-audit: error: --out {out}: ") and "give --output (" in line
    assert ".json, .sarif, .xml, .md, .csv" in line
    assert not out.exists()
    assert (
        run(capsys, "--snapshot", snapshot, "-o", "json", "--fail-on", "none", "--quiet", "--out", str(out))[
            0
        ]
        == 4
    )


def test_the_demo_says_its_403_is_staged(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "demo", "-o", "json")
    assert code == 0
    (note,) = [line for line in err.splitlines() if "staged" in line]
    assert note.startswith("asr-audit: note: the demo's forbidden read (403) is staged")
    assert "nothing is wrong with your set-up" in note
    code, _, err = run(capsys, "demo", "-o", "json", "--subscription", "Fabrikam Prod")
    assert code == 0 and "staged" not in err  # no gap in this subscription, nothing to explain


def test_masked_subscriptions_keep_their_display_names(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "demo", "--mask", "--quiet", "--subscription", "Fabrikam Prod")
    assert code == 0
    assert "Subscriptions: Fabrikam Prod (********-****-****-****-********5a32)" in out
    assert "b7e4a1d9" not in out
