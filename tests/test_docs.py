"""Docs and code cannot drift: a page per catalogued rule (package data, asr_audit/rule_pages/), no
page for a rule that does not exist, and a firing and a non-firing test for every rule.

The test check reads the test files (it does not run them). A test function counts as a *firing*
test of rule R when it names R as a string and asserts findings exist: `assert "R" in ids`,
`assert f.rule_id == "R"`, `[f] = run("R", ...)`, `assert len(found) == 1`,
`assert [f.resource_id for f in found] == [x]`. It counts as a *non-firing* test of R when it
names R and asserts there are none: `assert "R" not in ids`, `assert run("R", ...) == []`,
`assert not found`, `assert len(found) == 0`. Ids given to `pytest.mark.parametrize` count as
named. Rules are those of the default catalog, so the check grows with it.
"""

from __future__ import annotations

import ast
import re
from importlib import resources
from pathlib import Path

import pytest

from asr_audit.app.catalog import DOCUMENTS, PageSourceError, check_page_source, generated_docs
from asr_audit.rules.catalog import default_catalog

ROOT = Path(__file__).resolve().parent.parent
PAGES = ROOT / "asr_audit" / "rule_pages"
SOURCES = ROOT / "docs" / "rules" / "src"
HAND_WRITTEN = [
    *(ROOT / "docs" / name for name in ("permissions.md", "not-checked.md", "ci.md")),
    *(ROOT / "docs" / f"{name}.md" for name in DOCUMENTS),
    ROOT / "docs" / "rules" / "README.md",
    ROOT / "README.md",
]
RULE_ID = re.compile(r"\b(?:PLC|STG|NET|ER|VM|DSK|NIC|ASR|ENC)(?:-[A-Z0-9]+)+\b")
REGENERATE = "run: python tools/gen_rule_docs.py"


@pytest.fixture(scope="module")
def catalogued() -> set[str]:
    return set(default_catalog().ids())


# --- pages ------------------------------------------------------------------------------------


def test_every_registered_rule_has_an_up_to_date_page() -> None:
    for name, text in generated_docs(ROOT / "docs").items():
        path = PAGES / name
        assert path.is_file(), f"asr_audit/rule_pages/{name} is missing; {REGENERATE}"
        assert path.read_text(encoding="utf-8") == text, (
            f"asr_audit/rule_pages/{name} is out of date; {REGENERATE}"
        )


def test_every_page_lists_what_the_rule_reads_and_what_a_gap_does() -> None:
    for rule in default_catalog():
        rule_id = rule.id
        text = (PAGES / f"{rule_id}.md").read_text(encoding="utf-8")
        reads = ", ".join(f"`{c}`" for c in rule.meta.needs)
        assert f"| Reads | {reads} |" in text, rule_id
        section = " ".join(
            text.split("## When its data could not be read", 1)[1].split("\n## ", 1)[0].split()
        )
        assert f"one `unknown` finding per gap, at {rule.meta.worst.value} (the worst" in section, rule_id


def test_no_page_or_page_source_for_a_rule_that_does_not_exist(catalogued: set[str]) -> None:
    pages = {p.stem for p in PAGES.glob("*.md")} - {"README", *DOCUMENTS}
    sources = {p.stem for p in SOURCES.glob("*.md")}
    assert pages - catalogued == set(), "pages without a rule"
    assert sources - catalogued == set(), "page sources without a rule"


def test_hand_written_docs_name_only_registered_rules(catalogued: set[str]) -> None:
    for path in [*SOURCES.glob("*.md"), *HAND_WRITTEN]:
        named = set(RULE_ID.findall(path.read_text(encoding="utf-8")))
        assert named - catalogued == set(), f"{path.relative_to(ROOT)} names rules that do not exist"


MARKDOWN_LINK = re.compile(r"\]\(([^)#\s]+)[^)]*\)")


def test_every_relative_link_of_a_shipped_page_resolves_beside_it() -> None:
    """The pages are read from an installed package, where nothing outside rule_pages/ exists."""
    for page in PAGES.glob("*.md"):
        for target in MARKDOWN_LINK.findall(page.read_text(encoding="utf-8")):
            if "://" not in target:
                assert (PAGES / target).is_file(), f"{page.name} links {target}"


def test_findings_link_to_the_microsoft_document_and_the_page_ships() -> None:
    for rule in default_catalog():
        finding = rule.meta.finding(resource_id="/subscriptions/s/resourceGroups/g", message="m")
        assert finding.docs == rule.meta.microsoft_docs
        assert (resources.files("asr_audit") / "rule_pages" / f"{rule.id}.md").is_file()


def test_no_output_or_page_names_the_placeholder_repository() -> None:
    """A URL of a repository that does not exist is a dead link in every report."""
    shipped = [*PAGES.glob("*.md"), *(ROOT / "asr_audit").rglob("*.py"), *HAND_WRITTEN]
    assert [p.name for p in shipped if "github.com/asr-audit" in p.read_text(encoding="utf-8")] == []


# A parent whose deployment replaces a list of children: declaring it again with one child deletes the rest.
PARENT_LISTS = {"networkSecurityGroups": "securityRules", "routeTables": "routes"}
BICEP = re.compile(r"^```bicep\n(.*?)^```", re.MULTILINE | re.DOTALL)


def test_bicep_examples_add_children_instead_of_redeclaring_their_parent() -> None:
    for path in SOURCES.glob("*.md"):
        for block in BICEP.findall(path.read_text(encoding="utf-8")):
            for declaration in re.split(r"(?m)^resource ", block)[1:]:
                header = declaration.split("\n", 1)[0]
                for parent, children in PARENT_LISTS.items():
                    if f"/{parent}@" in header and " existing " not in header:
                        assert f"{children}:" not in declaration, f"{path.name}: {header}"


def test_a_page_source_without_the_required_sections_is_refused() -> None:
    with pytest.raises(PageSourceError, match=r"How to fix it / Bicep.*unexpected \['Notes'\]"):
        check_page_source(
            "X-Y",
            "## Synopsis\ns\n## How it is evaluated\ne\n## How to fix it\n### Portal\np\n### Azure CLI\nc\n"
            "## Notes\nn\n",
        )


# --- firing and non-firing tests ------------------------------------------------------------------

FIRES, SILENT = "fires", "silent"


def _is_rule_id(node: ast.AST, ids: set[str]) -> str | None:
    return node.value if isinstance(node, ast.Constant) and node.value in ids else None


def _collection_size(node: ast.AST) -> int | None:
    """0 / >0 for a literal collection (either branch of `a if c else b` decides), else None."""
    if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
        return len(node.elts)
    if isinstance(node, ast.Dict):
        return len(node.keys)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("set", "list"):
        return 0 if not node.args else None
    return None


def _len_compared(left: ast.AST, op: ast.cmpop, right: ast.AST) -> str | None:
    if not (isinstance(left, ast.Call) and isinstance(left.func, ast.Name) and left.func.id == "len"):
        return None
    if not (isinstance(right, ast.Constant) and isinstance(right.value, int)):
        return None
    if isinstance(op, ast.Eq):
        return SILENT if right.value == 0 else FIRES
    if isinstance(op, ast.Gt) and right.value >= 0:
        return FIRES
    return FIRES if isinstance(op, ast.GtE) and right.value >= 1 else None


def _comparison(node: ast.Compare, ids: set[str]) -> tuple[set[str], set[str]]:
    """(generic claims, {"fires:R", "silent:R"} claims) of one comparison."""
    generic: set[str] = set()
    named: set[str] = set()
    left = node.left
    for op, right in zip(node.ops, node.comparators, strict=True):
        rid = _is_rule_id(left, ids) or (_is_rule_id(right, ids) if isinstance(op, ast.Eq) else None)
        if rid and isinstance(op, (ast.In, ast.Eq)):
            named.add(f"{FIRES}:{rid}")
        elif rid and isinstance(op, ast.NotIn):
            named.add(f"{SILENT}:{rid}")
        elif isinstance(op, ast.Eq):
            for side in (left, right):
                branches = [side.body, side.orelse] if isinstance(side, ast.IfExp) else [side]
                for branch in branches:
                    size = _collection_size(branch)
                    if size is not None:
                        generic.add(SILENT if size == 0 else FIRES)
                    if isinstance(branch, (ast.List, ast.Tuple, ast.Set)):
                        named |= {f"{FIRES}:{r}" for e in branch.elts if (r := _is_rule_id(e, ids))}
        claim = _len_compared(left, op, right)
        if claim:
            generic.add(claim)
        left = right
    return generic, named


def classify(function: ast.FunctionDef, ids: set[str]) -> tuple[set[str], set[str]]:
    """The rule ids `function` tests firing, and those it tests not firing."""
    body = function.body[1:] if ast.get_docstring(function) else function.body
    scope = [*function.decorator_list, *body]
    mentioned = {n.value for part in scope for n in ast.walk(part) if _is_rule_id(n, ids)}
    generic: set[str] = set()
    named: set[str] = set()
    for node in (n for part in body for n in ast.walk(part)):
        if isinstance(node, ast.Assert):
            test = node.test
            if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
                generic.add(SILENT)
            elif isinstance(test, ast.Compare):
                more, claims = _comparison(test, ids)
                generic |= more
                named |= claims
            elif isinstance(test, (ast.Name, ast.Call, ast.Subscript, ast.Attribute)):
                generic.add(FIRES)
        elif isinstance(node, ast.Assign) and any(isinstance(t, (ast.List, ast.Tuple)) for t in node.targets):
            generic.add(FIRES)  # `[finding] = run(...)` fails unless exactly one finding comes back
    fires = {c.split(":", 1)[1] for c in named if c.startswith(FIRES)} | (
        mentioned if FIRES in generic else set()
    )
    silent = {c.split(":", 1)[1] for c in named if c.startswith(SILENT)} | (
        mentioned if SILENT in generic else set()
    )
    return fires, silent


def scan_tests(directory: Path, ids: set[str]) -> dict[str, set[str]]:
    """Rule id -> {"fires", "silent"}: the kinds of test each rule has in `directory`."""
    found: dict[str, set[str]] = {rid: set() for rid in ids}
    for path in sorted(directory.glob("test_*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test"):
                fires, silent = classify(node, ids)
                for rid in fires:
                    found[rid].add(FIRES)
                for rid in silent:
                    found[rid].add(SILENT)
    return found


def test_every_rule_has_a_firing_and_a_non_firing_test(catalogued: set[str]) -> None:
    found = scan_tests(ROOT / "tests", catalogued)
    lacking = {
        rid: sorted({FIRES, SILENT} - kinds) for rid, kinds in found.items() if kinds != {FIRES, SILENT}
    }
    assert lacking == {}, "rules without a firing and a non-firing test (see this module's docstring)"


def _classify_source(source: str, ids: set[str] | None = None) -> tuple[set[str], set[str]]:
    tree = ast.parse(source)
    function = next(n for n in tree.body if isinstance(n, ast.FunctionDef))
    return classify(function, ids or {"R-ONE", "R-TWO"})


@pytest.mark.parametrize(
    ("source", "fires", "silent"),
    [
        ('def test_x():\n    assert "R-ONE" in ids\n', {"R-ONE"}, set()),
        ('def test_x():\n    assert "R-ONE" not in ids\n', set(), {"R-ONE"}),
        ('def test_x():\n    assert f.rule_id == "R-ONE"\n', {"R-ONE"}, set()),
        ('def test_x():\n    [f] = run("R-ONE", ctx)\n', {"R-ONE"}, set()),
        ('def test_x():\n    assert run("R-ONE", ctx) == []\n', set(), {"R-ONE"}),
        ('def test_x():\n    found = run("R-TWO", c)\n    assert len(found) == 1\n', {"R-TWO"}, set()),
        ('def test_x():\n    found = run("R-TWO", c)\n    assert not found\n', set(), {"R-TWO"}),
        (
            'def test_x():\n    assert [f.id for f in run("R-ONE", c)] == ([i] if fires else [])\n',
            {"R-ONE"},
            {"R-ONE"},
        ),
        ('def test_x():\n    assert [f.rule_id for f in fs] == ["R-ONE"]\n', {"R-ONE"}, set()),
        # naming a rule without asserting anything about findings proves nothing
        ('def test_x():\n    run("R-ONE", ctx)\n    assert x == 3\n', set(), set()),
        # a docstring mention is not a test of the rule
        ('def test_x():\n    """R-ONE"""\n    assert not other\n', set(), set()),
    ],
)
def test_the_scan_recognises_firing_and_non_firing_assertions(
    source: str, fires: set[str], silent: set[str]
) -> None:
    assert _classify_source(source) == (fires, silent)


def test_the_scan_reports_a_rule_with_only_a_firing_test(tmp_path: Path) -> None:
    (tmp_path / "test_one.py").write_text(
        'def test_fires():\n    [f] = run("R-ONE", ctx)\n', encoding="utf-8"
    )
    assert scan_tests(tmp_path, {"R-ONE", "R-TWO"}) == {"R-ONE": {FIRES}, "R-TWO": set()}
