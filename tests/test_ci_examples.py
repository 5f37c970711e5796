"""docs/ci.md stays runnable: its YAML is valid, its pipelines are wired as the text says, and
their `asr-audit` commands, run on the demo recording with the same flags, write valid reports
and exit as the page's "Try the commands offline" section says.

A pipeline command becomes its offline form by naming the demo's subscription instead of the
pipeline's placeholder and running `asr-audit demo` instead of a live scan; every offline form
must appear, flag for flag, among the page's offline commands, which are then run in order.
"""

from __future__ import annotations

import json
import re
import shlex
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema.validators import validator_for

from asr_audit import __version__
from asr_audit.app.cli import main

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "ci.md"
DATA = Path(__file__).parent / "data"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.MULTILINE | re.DOTALL)
GITHUB_WORKFLOW = ".github/workflows/asr-audit.yml"
AZURE_PIPELINE = "azure-pipelines.yml"

# How each pipeline names the subscription to scan, and the recorded one the offline form scans.
PLACEHOLDERS = ("${{ secrets.AZURE_SUBSCRIPTION_ID }}", "$(AZURE_SUBSCRIPTION_ID)", "$AZURE_SUBSCRIPTION_ID")
DEMO_SUBSCRIPTION = "Fabrikam Prod"
RECORDED_IDS = [
    s["id"]
    for s in yaml.safe_load((DATA.parent / "scenarios" / "broken" / "scenario.yaml").read_text("utf-8"))[
        "subscriptions"
    ]
]
SHELL_OPERATORS = {"|", "||", "&&", ";"}
REDIRECTS = {">", ">>"}


@dataclass(frozen=True)
class Command:
    argv: tuple[str, ...]  # after `asr-audit`
    stdout_to: str | None = None  # `> FILE` / `>> FILE`

    def option(self, name: str) -> str | None:
        return self.argv[self.argv.index(name) + 1] if name in self.argv else None


def blocks(lang: str) -> list[str]:
    return [body for kind, body in FENCE.findall(DOC.read_text("utf-8")) if kind == lang]


def named_yaml() -> dict[str, Any]:
    """YAML blocks by the path their first line names (`# azure-pipelines.yml`)."""
    named = {}
    for body in blocks("yaml"):
        first = body.splitlines()[0]
        assert first.startswith("# "), f"a YAML block should name its file on its first line: {first!r}"
        named[first[2:].strip()] = yaml.safe_load(body)
    return named


def parse_command(line: str) -> Command:
    """`asr-audit ...` as the shell would split it, up to the first operator; a redirect of
    stdout is kept apart."""
    words = shlex.split(line)
    assert words[0] == "asr-audit", line
    argv: list[str] = []
    stdout_to = None
    rest = iter(words[1:])
    for word in rest:
        if word in SHELL_OPERATORS:
            break
        if word in REDIRECTS:
            stdout_to = next(rest)
            continue
        argv.append(word)
    return Command(tuple(argv), stdout_to)


def commands_in(script: str) -> list[Command]:
    lines = script.replace("\\\n", " ").splitlines()
    return [parse_command(line.strip()) for line in lines if line.strip().startswith("asr-audit ")]


def strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)


def pipeline_commands() -> dict[str, list[Command]]:
    """The `asr-audit` commands of each YAML block, and of the `sh` blocks (set-up steps)."""
    found = {path: [c for s in strings(doc) for c in commands_in(s)] for path, doc in named_yaml().items()}
    found["sh"] = [c for body in blocks("sh") for c in commands_in(body)]
    return found


def offline(command: Command) -> Command:
    """The same command on the demo recording."""
    argv = [DEMO_SUBSCRIPTION if word in PLACEHOLDERS else word for word in command.argv]
    unknown = [w for w in argv if w.startswith("$")]
    assert not unknown, f"placeholder without an offline value: {unknown}"
    if "--subscription" in argv or "--all-subscriptions" in argv:
        argv.insert(0, "demo")
    return Command(tuple(argv))


def offline_session() -> list[tuple[Command, int]]:
    """`$ asr-audit ...` lines of the console blocks, each followed by `$ echo $?` and its code."""
    session: list[tuple[Command, int]] = []
    for body in blocks("console"):
        lines = body.splitlines()
        for i, line in enumerate(lines):
            if line.startswith("$ asr-audit "):
                assert lines[i + 1] == "$ echo $?", f"no exit code after {line!r}"
                session.append((parse_command(line[2:]), int(lines[i + 2])))
    return session


def step(workflow: dict[str, Any], uses: str) -> dict[str, Any]:
    steps = [s for job in workflow["jobs"].values() for s in job["steps"]]
    matches = [s for s in steps if s.get("uses", "").startswith(uses)]
    assert len(matches) == 1, uses
    return matches[0]


# --- the page itself ----------------------------------------------------------------------------------


def test_every_yaml_block_is_valid_yaml() -> None:
    bodies = blocks("yaml")
    assert len(bodies) >= 3
    for body in bodies:
        assert isinstance(yaml.safe_load(body), (dict, list))


def test_github_workflow_logs_in_with_oidc_and_uploads_the_sarif_it_wrote() -> None:
    workflow = named_yaml()[GITHUB_WORKFLOW]
    assert workflow["permissions"]["id-token"] == "write"
    assert workflow["permissions"]["security-events"] == "write"
    assert workflow[True]["schedule"][0]["cron"]  # YAML 1.1 reads the key `on` as true
    login = step(workflow, "azure/login@")
    assert set(login["with"]) == {"client-id", "tenant-id", "subscription-id"}
    assert all(v.startswith("${{ secrets.") for v in login["with"].values())
    upload = step(workflow, "github/codeql-action/upload-sarif@")
    assert "always()" in upload["if"]
    [scan] = [c for c in pipeline_commands()[GITHUB_WORKFLOW] if c.option("--output") == "sarif"]
    assert upload["with"]["sarif_file"] == scan.option("--out")
    assert scan.option("--fail-on") == "high" and scan.option("--subscription") in PLACEHOLDERS


def test_azure_pipeline_publishes_the_junit_it_wrote_even_when_the_gate_fails() -> None:
    pipeline = named_yaml()[AZURE_PIPELINE]
    assert pipeline["schedules"][0]["cron"] and pipeline["schedules"][0]["always"] is True
    tasks = {s.get("task"): s for s in pipeline["steps"]}
    assert tasks["AzureCLI@2"]["inputs"]["azureSubscription"]
    publish = tasks["PublishTestResults@2"]
    assert publish["condition"] == "always()"
    assert publish["inputs"]["testResultsFormat"] == "JUnit"
    [scan] = pipeline_commands()[AZURE_PIPELINE]
    assert scan.option("--output") == "junit" and scan.option("--fail-on") == "high"
    assert publish["inputs"]["testResultsFiles"] == scan.option("--out")


def test_pipelines_install_the_wheel_this_version_builds() -> None:
    """No pipeline installs a package name no index publishes; the wheel named is this version's
    (tests/test_explain.py builds it under that name)."""
    wheel = f"asr_audit-{__version__}-py3-none-any.whl"
    installs = [s for doc in named_yaml().values() for s in strings(doc) if "pip install" in s]
    assert len(installs) == 2 and all(s == f"pip install .asr-audit/{wheel}" for s in installs)
    text = DOC.read_text("utf-8")
    assert f"cp dist/{wheel} " in text
    assert "pip install asr-audit" not in text


def test_every_pipeline_command_is_shown_offline() -> None:
    shown = {command.argv for command, _ in offline_session()}
    commands = [c for found in pipeline_commands().values() for c in found]
    assert len(commands) >= 4
    for command in commands:
        assert offline(command).argv in shown, f"no offline form of: asr-audit {' '.join(command.argv)}"


# --- running them on the demo recording --------------------------------------------------------------


def validate_sarif(text: str) -> None:
    schema = json.loads((DATA / "sarif-schema-2.1.0.json").read_text("utf-8"))
    cls = validator_for(schema)
    errors = list(cls(schema, format_checker=cls.FORMAT_CHECKER).iter_errors(json.loads(text)))
    assert not errors, [e.message for e in errors]


def check_output(command: Command, text: str, code: int) -> None:
    """The report parses as its format, and a failing gate shows failing findings."""
    fmt = command.option("--output")
    if fmt == "sarif":
        validate_sarif(text)
        results = json.loads(text)["runs"][0]["results"]
        assert code != 1 or any(r["level"] == "error" and "suppressions" not in r for r in results)
    elif fmt == "junit":
        root = ET.fromstring(text)
        assert root.tag == "testsuites" and int(root.get("tests", "0")) > 0
        assert code != 1 or int(root.get("failures", "0")) > 0
    elif fmt == "json":
        schema = json.loads((DATA / "asr-audit-report.schema.json").read_text("utf-8"))
        validator_for(schema)(schema).validate(json.loads(text))
    elif fmt == "markdown":
        assert text.startswith("# asr-audit report")
    else:
        raise AssertionError(f"no check for --output {fmt}")
    if "--mask" in command.argv:
        assert not any(sub in text.lower() for sub in RECORDED_IDS)


def test_offline_commands_write_valid_reports_and_exit_as_documented(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    for path, body in zip(named_yaml(), blocks("yaml"), strict=True):
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(body, "utf-8")
    session = offline_session()
    assert session
    for command, expected in session:
        code = main(list(command.argv))
        out, err = capsys.readouterr()
        where = command.option("--out") or command.stdout_to
        assert where, f"asr-audit {' '.join(command.argv)} writes no report"
        if command.stdout_to:
            (tmp_path / command.stdout_to).write_text(out, "utf-8")
        else:
            assert out == ""
        assert code == expected, (
            f"asr-audit {' '.join(command.argv)}: exit {code}, documented {expected}\n{err}"
        )
        check_output(command, (tmp_path / where).read_text("utf-8"), code)
