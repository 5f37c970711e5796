"""The command line as argparse sees it (DESIGN.md §3): flags, subcommands, and a type per value.

Each argument type turns a bad value into argparse's one-line usage error (exit 2), so a typo
in an id, a region or a number fails before anything is imported or scanned. What needs more
than one flag, a file or the cloud's region list to judge is checked in `cli` instead.

Nothing here imports the Azure SDKs or rich: `--help` and `--version` must start fast.
"""

from __future__ import annotations

import argparse
import math
import re
from collections.abc import Collection
from pathlib import PurePath
from urllib.parse import urlsplit

from asr_audit import __version__, ids
from asr_audit.access.clouds import CLOUDS
from asr_audit.collect import (
    AUTO_GRAPH_ABOVE,
    BACKENDS,
    DEFAULT_CONCURRENCY,
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_DEADLINE,
    DEFAULT_READ_TIMEOUT,
)
from asr_audit.report import FORMATS

PROG = "asr-audit"
DEBUG_ENV = "ASR_AUDIT_DEBUG"
ARM_ENDPOINT_ENV = "ASR_AUDIT_ARM_ENDPOINT"
FAIL_ON = ("critical", "high", "medium", "low", "info", "none")
CATALOG_FORMATS = ("table", "json", "markdown")
DEFAULT_OUTPUT = "table"
DEFAULT_FAIL_ON = "high"
MAX_CONCURRENCY = 64
# What an `--out` extension says the format is when `--output` is not given (DESIGN.md §8.3); a
# format this build does not have (html, before it exists) is not inferred.
OUT_EXTENSIONS = {
    ext: fmt
    for ext, fmt in {
        ".json": "json",
        ".sarif": "sarif",
        ".xml": "junit",
        ".md": "markdown",
        ".csv": "csv",
        ".html": "html",
        ".txt": "table",
    }.items()
    if fmt in FORMATS
}
_REGION = re.compile(r"^[a-z0-9]+$")
# A management group id as ARM allows it (ASCII letters, digits, - _ ( ) ., up to 90), or its full
# ARM id as the portal shows it.
_MANAGEMENT_GROUP = re.compile(r"^[A-Za-z0-9_().-]{1,90}$")
_MANAGEMENT_GROUP_ID = re.compile(
    r"^/providers/microsoft\.management/managementgroups/([^/]+)/?$", re.IGNORECASE
)
# A Recovery Services vault name as ARM allows it (2-50 letters, digits, hyphens, starting with a
# letter), or its full ARM id.
_VAULT_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9-]{1,49}$")
_VAULT_ID = re.compile(
    r"^/subscriptions/[^/]+/resourcegroups/[^/]+/providers/microsoft\.recoveryservices/vaults/[^/]+$",
    re.IGNORECASE,
)


# --- argument types: each turns a bad value into argparse's one-line usage error -----------------


def _region(value: str) -> str:
    name = ids.region(value.strip()) or ""
    if not _REGION.match(name):
        raise argparse.ArgumentTypeError(
            f"invalid region {value!r}: expected a name like westeurope or 'West Europe'"
        )
    return name


def _subscription(value: str) -> str:
    if not value.strip():
        raise argparse.ArgumentTypeError("empty subscription: give a subscription id or display name")
    return value.strip()


def _management_group(value: str) -> str:
    """Its id only: display names would need every group listed (tenant-wide read) to resolve."""
    name = value.strip()
    full = _MANAGEMENT_GROUP_ID.match(name)
    name = full.group(1) if full else name
    if not _MANAGEMENT_GROUP.match(name):
        raise argparse.ArgumentTypeError(
            f"invalid management group {value!r}: expected its id (e.g. mg-prod), not its display name"
        )
    return name


def _resource_group(value: str) -> str:
    name = value.strip()
    if not name or "/" in name:
        raise argparse.ArgumentTypeError(
            f"invalid resource group {value!r}: expected a resource group name such as rg-prod, not an id"
        )
    return name


def _vault(value: str) -> str:
    name = value.strip().rstrip("/")
    if not (_VAULT_NAME.match(name) or _VAULT_ID.match(name)):
        raise argparse.ArgumentTypeError(
            f"invalid vault {value!r}: expected a Recovery Services vault name (rsv-dr-weu) or its ARM id"
        )
    return name


def _seconds(value: str) -> float:
    """A positive, finite number of seconds (`--timeout`, `--deadline`)."""
    try:
        seconds = float(value)
    except ValueError:
        seconds = math.nan
    if not (math.isfinite(seconds) and seconds > 0):
        raise argparse.ArgumentTypeError(f"invalid number of seconds {value!r}: expected a positive number")
    return seconds


def _rule_ids(value: str) -> list[str]:
    return [v for v in (part.strip() for part in value.split(",")) if v]


def _concurrency(value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        n = 0
    if not 1 <= n <= MAX_CONCURRENCY:
        raise argparse.ArgumentTypeError(f"invalid concurrency {value!r}: expected 1..{MAX_CONCURRENCY}")
    return n


def https_url(value: str) -> str:
    """An ARM endpoint must be https with a host: a bearer token never travels in clear text."""
    try:
        parts = urlsplit(value.strip())
        valid = parts.scheme.lower() == "https" and bool(parts.hostname) and parts.port != 0
    except ValueError:  # a malformed port or IPv6 literal
        valid = False
    if not valid or parts.query or parts.fragment:
        raise ValueError(
            f"invalid ARM endpoint {value!r}: expected an https URL such as https://management.azure.com"
        )
    return value.strip().rstrip("/")


def _arm_endpoint(value: str) -> str:
    try:
        return https_url(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def output_format(output: str | None, out: str | None, allowed: Collection[str]) -> str:
    """`--output` when given, else the format `--out`'s extension names, else the table.

    Raises ValueError (one line) for an `--out` whose extension names none of `allowed`: writing
    a table into `report.sarif` would only fail later, in whatever reads it.
    """
    if output:
        return output
    if not out:
        return DEFAULT_OUTPUT
    extension = PurePath(out).suffix.lower()
    inferred = OUT_EXTENSIONS.get(extension)
    if inferred is not None and inferred in allowed:
        return inferred
    known = ", ".join(ext for ext, fmt in OUT_EXTENSIONS.items() if fmt in allowed)
    raise ValueError(
        f"--out {out}: {f'{extension!r} names no format here' if extension else 'no extension'}; "
        f"give --output ({', '.join(allowed)}) or name the file {known}"
    )


def ignored_flags(args: argparse.Namespace, parser: argparse.ArgumentParser) -> list[str]:
    """The flags given (before the subcommand) that the subcommand in `args` has no use for:
    argparse accepts them there and the subcommand would drop them without a word. `--quiet`
    applies everywhere."""
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    used = {a.dest for a in commands.choices[args.command]._actions} | {"quiet"}
    return [
        a.option_strings[-1]
        for a in parser._actions
        if a.option_strings and a.dest not in used and getattr(args, a.dest, a.default) != a.default
    ]


def _extensions() -> str:
    return ", ".join(f"{ext} {fmt}" for ext, fmt in OUT_EXTENSIONS.items())


# --- the parser ------------------------------------------------------------------------------------


def _add_report_options(parser: argparse.ArgumentParser, *, subcommand: bool) -> None:
    """Options shared by a scan and `demo`.

    On the subcommand they default to SUPPRESS: argparse copies a subparser's defaults over
    values already parsed, so `asr-audit --output json demo` would otherwise lose `json`.
    """

    def default(value: object) -> object:
        return argparse.SUPPRESS if subcommand else value

    parser.add_argument(
        "-o",
        "--output",
        choices=tuple(FORMATS),
        default=default(None),
        help=f"report format (default: from the --out extension, else {DEFAULT_OUTPUT})",
    )
    parser.add_argument(
        "--out",
        metavar="FILE",
        default=default(None),
        help=f"write the report to FILE, not stdout; without --output, its extension names the format: "
        f"{_extensions()}",
    )
    parser.add_argument(
        "--details",
        action="store_true",
        default=default(False),
        help="table output: each finding in full (where, message, evidence, fix, id), not one line",
    )
    parser.add_argument(
        "--fail-on",
        choices=FAIL_ON,
        default=default(None),
        help=(
            f"exit 1 when an unsuppressed finding is at or above this severity "
            f"(default: {DEFAULT_FAIL_ON}; demo exits 0 unless this is given)"
        ),
    )
    parser.add_argument(
        "--rules",
        metavar="ID,...",
        type=_rule_ids,
        action="extend",
        default=default([]),
        help="run only these rules (see `asr-audit rules`)",
    )
    parser.add_argument(
        "--skip-rules",
        metavar="ID,...",
        type=_rule_ids,
        action="extend",
        default=default([]),
        help="skip these rules",
    )
    parser.add_argument(
        "--suppressions",
        metavar="FILE",
        default=default(None),
        help="YAML of accepted findings, each with an expiry",
    )
    parser.add_argument(
        "--baseline",
        metavar="PREVIOUS.json",
        default=default(None),
        help="mark findings new/unchanged/resolved",
    )
    parser.add_argument(
        "--config", metavar="FILE", default=default(None), help="YAML overrides for rule thresholds"
    )
    parser.add_argument(
        "--resource-group",
        metavar="RG",
        type=_resource_group,
        action="append",
        default=default([]),
        help=(
            "report only findings whose resource is in resource group RG (repeatable, any case). "
            "Collection and analysis stay subscription-wide, because rules need context from other "
            "groups (hub VNets, shared storage accounts); a finding is kept when the resource group "
            "of its own resource id matches, whichever workload it concerns"
        ),
    )
    parser.add_argument(
        "--include-passed",
        action="store_true",
        default=default(False),
        help=(
            "also list, per rule, each resource it examined and found nothing wrong with (audit "
            "evidence); nothing is listed as passed where the rule's input had a gap"
        ),
    )
    parser.add_argument(
        "--mask",
        action="store_true",
        default=default(False),
        help=(
            "mask subscription ids (all but their last 4 hex digits) in the report and on stderr; "
            "fingerprints stay those of the real ids, so a masked report still works as --baseline. "
            "--save-snapshot files are not masked"
        ),
    )
    parser.add_argument(
        "--quiet",
        action="store_true",
        default=default(False),
        help="no notes or progress on stderr, only errors",
    )


def _add_scope_options(parser: argparse.ArgumentParser, *, subcommand: bool) -> None:
    """What to scan, shared by a scan and `demo` (which picks from its recording's subscriptions);
    defaults as in `_add_report_options`."""

    def default(value: object) -> object:
        return argparse.SUPPRESS if subcommand else value

    source = parser.add_mutually_exclusive_group()
    source.add_argument(
        "--subscription",
        metavar="ID|NAME",
        action="append",
        type=_subscription,
        default=default(None),
        help="subscription id or display name to scan (repeatable)",
    )
    source.add_argument(
        "--all-subscriptions",
        action="store_true",
        default=default(False),
        help="scan every subscription the credential can read",
    )
    if not subcommand:  # live-only: the demo recording holds no management group
        source.add_argument(
            "--management-group",
            metavar="MG",
            action="append",
            type=_management_group,
            help=(
                "scan every subscription below management group MG, child groups included "
                "(repeatable; its id, not its display name)"
            ),
        )
        source.add_argument(
            "--snapshot", metavar="FILE", help="analyse a saved inventory instead of scanning Azure"
        )
    parser.add_argument(
        "--source-region",
        metavar="R",
        type=_region,
        default=default(None),
        help="source region; also audits VMs not yet protected there (default: from ASR objects)",
    )
    parser.add_argument(
        "--target-region",
        metavar="R",
        type=_region,
        default=default(None),
        help="target (recovery) region",
    )
    parser.add_argument(
        "--vault",
        metavar="NAME|ID",
        type=_vault,
        action="append",
        default=default([]),
        help=(
            "a Recovery Services vault you intend to use (repeatable; name or ARM id): readiness checks "
            "judge where it is before replication is enabled"
        ),
    )
    parser.add_argument(
        "--save-snapshot",
        metavar="FILE",
        default=default(None),
        help="after the scan, save the inventory to FILE (for --snapshot)",
    )


def _add_document_options(parser: argparse.ArgumentParser, formats: tuple[str, ...], what: str) -> None:
    """`-o` and `--out` of a subcommand that prints a document (the catalog, a rule's page); they
    default to SUPPRESS so the same flags given before the subcommand are kept."""
    parser.add_argument(
        "-o",
        "--output",
        choices=formats,
        default=argparse.SUPPRESS,
        help=f"{what} format (default: from the --out extension, else {formats[0]})",
    )
    parser.add_argument(
        "--out", metavar="FILE", default=argparse.SUPPRESS, help=f"write the {what} to FILE, not stdout"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Audit Azure subscriptions (read-only) for Azure Site Recovery readiness.",
        epilog=(
            "exit codes: 0 no unsuppressed finding at or above --fail-on and the scan was complete; "
            "1 findings at or above --fail-on; 2 usage or input error; 3 authentication or authorisation "
            "failure, or nothing in scope could be read (wins over 1 and 4); 4 scan incomplete. "
            f"Set {DEBUG_ENV}=1 to see a traceback for an unexpected error."
        ),
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    _add_scope_options(parser, subcommand=False)
    parser.add_argument(
        "--cloud", choices=tuple(CLOUDS), help="Azure cloud (default: AzureCloud, or the snapshot's)"
    )
    parser.add_argument(
        "--arm-endpoint",
        metavar="URL",
        type=_arm_endpoint,
        help=f"another ARM endpoint, e.g. Azure Stack Hub or a private link (env {ARM_ENDPOINT_ENV})",
    )
    parser.add_argument(
        "--backend",
        choices=BACKENDS,
        help=(
            "how resources are read: arm (one list per type and subscription, live data; the default), "
            "graph (Azure Resource Graph queries over up to 1,000 subscriptions each; its data lags "
            f"changes by minutes), auto (graph past {AUTO_GRAPH_ABOVE} subscriptions or with "
            "--management-group / --all-subscriptions)"
        ),
    )
    parser.add_argument(
        "--concurrency",
        metavar="N",
        type=_concurrency,
        help=f"parallel collector calls, 1..{MAX_CONCURRENCY} (default: {DEFAULT_CONCURRENCY})",
    )
    parser.add_argument(
        "--timeout",
        metavar="S",
        type=_seconds,
        help=(
            f"read timeout of each request in seconds (default: {DEFAULT_READ_TIMEOUT:g}); the connect "
            f"timeout is the smaller of S and {DEFAULT_CONNECT_TIMEOUT:g}"
        ),
    )
    parser.add_argument(
        "--deadline",
        metavar="S",
        type=_seconds,
        help=(
            f"seconds for the whole scan (default: {DEFAULT_DEADLINE:g}); what is unfinished then is "
            "reported as a coverage gap"
        ),
    )
    _add_report_options(parser, subcommand=False)

    commands = parser.add_subparsers(dest="command", metavar="{rules,explain,demo}")
    _add_document_options(
        commands.add_parser("rules", help="print the rule catalog"), CATALOG_FORMATS, "catalog"
    )
    explain = commands.add_parser(
        "explain",
        help="print a rule's page (offline)",
        description=(
            "Print the page of a rule: why it matters, what it reads, how to fix it in the portal, "
            "the Azure CLI and Bicep, and its references; or 'other-scanners': the rules of other "
            "scanners that conflict with Site Recovery and how to exempt a cache account from them. "
            "The pages ship with asr-audit."
        ),
    )
    explain.add_argument(
        "rule_id", metavar="RULE-ID", help="a rule id, e.g. NET-NSG-OUTBOUND (any case), or other-scanners"
    )
    _add_document_options(explain, ("markdown",), "page")
    demo = commands.add_parser(
        "demo",
        help="a full run on the bundled recorded scenario, offline",
        description=(
            "Replay the bundled recording of a two-subscription estate (Fabrikam Prod, Fabrikam "
            "Connectivity) through the real collectors and rules. --subscription and "
            "--all-subscriptions choose among the recorded subscriptions (default: all)."
        ),
    )
    _add_scope_options(demo, subcommand=True)
    _add_report_options(demo, subcommand=True)
    return parser
