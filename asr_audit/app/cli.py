"""`asr-audit`: argument parsing, the three ways to get an inventory, and exit codes (DESIGN.md §3).

Exit codes: 0 clean, 1 findings at or above `--fail-on`, 2 usage or input error, 3 credential
or authorisation failure, or nothing in scope could be read, 4 scan incomplete. 3 wins over 1
and 4 (`runner.exit_code`). An unexpected exception (a bug) also exits 2: the run produced
nothing trustworthy, and a gate must fail closed without that looking like a finding (1) or a
tolerable coverage gap (4). `ASR_AUDIT_DEBUG=1` shows its traceback.

Every input is checked before a scan that may take minutes: flags, rule ids, input files,
region names against the cloud's list, and that `--out` / `--save-snapshot` can be written.

The Azure SDKs and rich are imported only on the paths that need them, so `--help`,
`rules` and `--snapshot --output json` start fast and need no Azure libraries at all.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import re
import shutil
import sys
import traceback
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urlsplit

from asr_audit import __version__, ids
from asr_audit.access.clouds import CLOUDS, CloudProfile, unknown_region
from asr_audit.app import config, progress, runner
from asr_audit.app.files import check_writable, write_text_atomic
from asr_audit.collect import (
    DEFAULT_CONCURRENCY,
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_DEADLINE,
    DEFAULT_READ_TIMEOUT,
)
from asr_audit.errors import EXIT_AUTH, EXIT_OK, EXIT_USAGE, AuditError, AuthError, UsageError
from asr_audit.inventory import Inventory
from asr_audit.report import FORMATS, Report
from asr_audit.report.sanitize import clean
from asr_audit.triage import baseline, suppressions

PROG = "asr-audit"
DEBUG_ENV = "ASR_AUDIT_DEBUG"
ARM_ENDPOINT_ENV = "ASR_AUDIT_ARM_ENDPOINT"
FAIL_ON = ("critical", "high", "medium", "low", "info", "none")
CATALOG_FORMATS = ("table", "json", "markdown")
DEFAULT_OUTPUT = "table"
DEFAULT_FAIL_ON = "high"
# Five dash-separated groups of 8-4-4-4-12 characters: meant as an id, so a typo in it is a usage
# error now rather than a display-name lookup later.
_GUID_SHAPED = re.compile(r"^[^\s-]{8}-[^\s-]{4}-[^\s-]{4}-[^\s-]{4}-[^\s-]{12}$")
_EXAMPLE_GUID = "00000000-0000-0000-0000-000000000000"
_SDK_SILENCER = logging.NullHandler()
EXIT_INTERRUPTED = 130
MAX_CONCURRENCY = 64
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


# --- the parser ------------------------------------------------------------------------------------


def _add_report_options(parser: argparse.ArgumentParser, *, subcommand: bool) -> None:
    """Options shared by a scan and `demo`.

    On the subcommand they default to SUPPRESS: argparse copies a subparser's defaults over
    values already parsed, so `asr-audit --output json demo` would otherwise lose `json`.
    """

    def default(value: object) -> object:
        return argparse.SUPPRESS if subcommand else value

    parser.add_argument(
        "--output",
        choices=tuple(FORMATS),
        default=default(DEFAULT_OUTPUT),
        help="report format (default: table)",
    )
    parser.add_argument(
        "--out", metavar="FILE", default=default(None), help="write the report to FILE, not stdout"
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

    commands = parser.add_subparsers(dest="command", metavar="{rules,demo}")
    catalog = commands.add_parser("rules", help="print the rule catalog")
    catalog.add_argument(
        "--output", choices=CATALOG_FORMATS, default=argparse.SUPPRESS, help="catalog format (default: table)"
    )
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


# --- running -----------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # --help / --version (0), or a usage error argparse already printed (2)
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    say = _Stderr(mask=args.mask)
    _quiet_sdk_logging()
    try:
        return _dispatch(args, say)
    except AuditError as exc:
        say.error(str(exc))
        return exc.exit_code
    except KeyboardInterrupt:
        say.error("interrupted")
        return EXIT_INTERRUPTED
    except Exception as exc:
        auth = _credential_failure(exc)
        if auth is not None:
            say.error(str(auth))
            return EXIT_AUTH
        if os.environ.get(DEBUG_ENV):
            traceback.print_exc()
        say.error(f"unexpected {type(exc).__name__}: {exc} (re-run with {DEBUG_ENV}=1 for a traceback)")
        return EXIT_USAGE


def _quiet_sdk_logging() -> None:
    """azure-identity logs each failed credential as a multi-line WARNING, which Python's
    last-resort handler prints to stderr; our one-line error already says what failed. A null
    handler on the `azure` logger keeps that away, unless ASR_AUDIT_DEBUG asks to see it."""
    sdk = logging.getLogger("azure")
    if os.environ.get(DEBUG_ENV):
        sdk.removeHandler(_SDK_SILENCER)
    elif _SDK_SILENCER not in sdk.handlers:
        sdk.addHandler(_SDK_SILENCER)


def _dispatch(args: argparse.Namespace, say: _Stderr) -> int:
    if args.command == "rules":
        if args.output not in CATALOG_FORMATS:
            raise UsageError(f"rules --output must be one of {', '.join(CATALOG_FORMATS)}, not {args.output}")
        from asr_audit.app.catalog import render_catalog

        _emit(render_catalog(args.output), None)
        return 0
    # Every flag, rule id, input and output file is checked before a scan that may take minutes.
    _check_source(args)
    _check_outputs(args)
    rules = runner.choose_rules(args.rules, args.skip_rules)
    inputs = _policy_inputs(args)
    started = runner.utc_now()
    inventory, cloud = _inventory(args)
    report = runner.audit(
        inventory,
        cloud=cloud,
        source_region=args.source_region,
        target_region=args.target_region,
        rules=rules,
        started_at=started,
        resource_groups=args.resource_group,
        vaults=args.vault,
        **inputs,
    )
    shown = report
    if args.mask:
        from asr_audit.app.masking import mask_report

        shown = mask_report(report)
    _emit(_render(shown, args.output, args.out), args.out)
    blind = runner.nothing_read(report)
    if not args.quiet:
        scope_notes = (
            runner.scope_note(inventory, args.source_region),
            runner.resource_group_note(inventory, args.resource_group),
            runner.vault_note(inventory, args.vault),
        )
        _notes(shown, args, [n for n in scope_notes if n], say, blind=bool(blind))
    if blind:
        say.error(blind)  # the report is written, but the exit code is 3 whatever it holds
        return EXIT_AUTH
    if args.command == "demo" and args.fail_on is None:
        return EXIT_OK  # the demo estate is broken on purpose: showing it gates nothing unless asked
    return runner.exit_code(report, args.fail_on or DEFAULT_FAIL_ON)


def _check_source(args: argparse.Namespace) -> None:
    scan = (
        bool(args.subscription or args.all_subscriptions or args.management_group) or args.command == "demo"
    )
    if args.subscription and args.all_subscriptions:  # given on either side of `demo`
        raise UsageError("--subscription and --all-subscriptions exclude each other")
    if args.command == "demo" and args.snapshot:
        raise UsageError("demo replays its bundled recording: drop --snapshot")
    if args.command == "demo" and args.management_group:
        raise UsageError(
            "demo replays its bundled recording, which has no management groups: drop --management-group"
        )
    if not (scan or args.snapshot):
        raise UsageError(
            "give --subscription ID (repeatable), --all-subscriptions, --management-group MG or "
            "--snapshot FILE; or run: rules, demo"
        )
    for value in args.subscription or ():
        if _GUID_SHAPED.match(value.strip()) and not ids.is_guid(value.strip()):
            raise UsageError(f"malformed subscription id {value!r}: expected a GUID such as {_EXAMPLE_GUID}")
    if args.save_snapshot and not scan:
        raise UsageError(
            "--save-snapshot needs a scan (--subscription, --all-subscriptions, --management-group or demo)"
        )


def _check_outputs(args: argparse.Namespace) -> None:
    """`--out` and `--save-snapshot` are tried now (a file created and removed beside them), so a
    missing or read-only directory fails before the scan rather than after it."""
    if args.out:
        check_writable(args.out)
    if args.save_snapshot:
        check_writable(args.save_snapshot, what="snapshot")


def _inventory(args: argparse.Namespace) -> tuple[Inventory, CloudProfile]:
    if args.snapshot:
        inventory = Inventory.load(args.snapshot)
        cloud = _snapshot_cloud(inventory, args.cloud)
        _check_regions(args, cloud, also=runner.locations(inventory))
        return inventory, cloud
    if args.command == "demo":
        cloud = CLOUDS["AzureCloud"]
        _check_regions(args, cloud)
        inventory = _replay(args, cloud)
    else:
        cloud, custom_endpoint = _live_cloud(args)
        if not custom_endpoint:  # Azure Stack Hub and custom clouds name their own regions
            _check_regions(args, cloud)
        inventory = _scan(args, cloud)
    if args.save_snapshot:
        inventory.save(args.save_snapshot)
    return inventory, cloud


def _check_regions(args: argparse.Namespace, cloud: CloudProfile, also: set[str] | None = None) -> None:
    """A mistyped region audits nothing and exits 0: refuse names the cloud does not have."""
    for flag, name in (("--source-region", args.source_region), ("--target-region", args.target_region)):
        problem = name and unknown_region(name, cloud.name, also or ())
        if problem:
            raise UsageError(f"{flag}: {problem}")


def _policy_inputs(args: argparse.Namespace) -> dict[str, Any]:
    """`runner.audit` keywords from `--config`, `--suppressions`, `--baseline`; bad files are UsageErrors."""
    inputs: dict[str, Any] = {}
    if args.config:
        inputs["thresholds"] = config.load_thresholds(args.config)
    if args.suppressions:
        inputs["accepted"] = suppressions.load(args.suppressions)
    if args.baseline:
        inputs["previous"] = baseline.load(args.baseline)
    return inputs


def _snapshot_cloud(inventory: Inventory, flag: str | None) -> CloudProfile:
    """The snapshot records its cloud, which decides the required FQDNs; a conflicting flag is an error."""
    if flag and flag != inventory.cloud:
        raise UsageError(f"the snapshot was collected from {inventory.cloud}, not {flag}: drop --cloud")
    if inventory.cloud not in CLOUDS:
        raise UsageError(
            f"the snapshot names an unknown cloud {inventory.cloud!r}; expected one of {', '.join(CLOUDS)}"
        )
    return CLOUDS[inventory.cloud]


def _live_cloud(args: argparse.Namespace) -> tuple[CloudProfile, bool]:
    """The cloud to scan, and whether another ARM endpoint was given (flag or environment)."""
    cloud = CLOUDS[args.cloud or "AzureCloud"]
    endpoint = args.arm_endpoint
    if endpoint is None and os.environ.get(ARM_ENDPOINT_ENV, "").strip():
        try:
            endpoint = https_url(os.environ[ARM_ENDPOINT_ENV])
        except ValueError as exc:
            raise UsageError(f"{ARM_ENDPOINT_ENV}: {exc}") from None
    return (cloud.with_arm_endpoint(endpoint), True) if endpoint else (cloud, False)


def _scan(args: argparse.Namespace, cloud: CloudProfile) -> Inventory:
    from asr_audit import collect
    from asr_audit.access import credential as auth

    credential = auth.make_credential(cloud)
    options: dict[str, Any] = {"concurrency": args.concurrency} if args.concurrency else {}
    if args.timeout:
        options["timeout"] = (min(DEFAULT_CONNECT_TIMEOUT, args.timeout), args.timeout)
    if args.deadline:
        options["deadline"] = args.deadline
    request = collect.ScanRequest(
        subscriptions=list(args.subscription or []),
        cloud=cloud,
        regions=[r for r in (args.source_region, args.target_region) if r],
        all_subscriptions=args.all_subscriptions,
        management_groups=list(args.management_group or []),
        **options,
    )
    label = _masker(args.mask)
    with progress.scan_progress(progress.wanted(args.quiet), label) as report:
        return collect.scan(request, credential, report)


def _replay(args: argparse.Namespace, cloud: CloudProfile) -> Inventory:
    """`demo`: the bundled recording, scanned like a tenant; no subscription named means all of them.

    No region hint: a service-tags location other than the recorded one is not in the recording.
    """
    from asr_audit import collect
    from asr_audit.app import replay

    request = collect.ScanRequest(
        subscriptions=list(args.subscription or []), cloud=cloud, all_subscriptions=args.all_subscriptions
    )
    return replay.replay_scan(replay.DEMO_CASSETTE, request)


def _render(report: Report, fmt: str, out: str | None) -> str:
    if fmt == "table":
        from asr_audit.report import table

        color = out is None and sys.stdout.isatty() and not os.environ.get("NO_COLOR")
        width = max(shutil.get_terminal_size().columns, 100) if color else table.DEFAULT_WIDTH
        return table.render(report, color=color, width=width)
    from asr_audit.report import render

    return render(report, fmt)


def _emit(text: str, out: str | None) -> None:
    """Results go to `--out` (UTF-8, replaced atomically) or stdout; a closed pipe (`| head`) is
    not an error."""
    if out:
        write_text_atomic(out, text)
        return
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except UnicodeEncodeError:
        encoding = sys.stdout.encoding or "ascii"
        sys.stdout.write(text.encode(encoding, "replace").decode(encoding))
    except BrokenPipeError:
        # Point stdout at devnull so the interpreter's final flush does not raise again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def _notes(
    report: Report, args: argparse.Namespace, scope_notes: list[str], say: _Stderr, *, blind: bool = False
) -> None:
    """Stderr context for a log; what a table on stdout already shows is not repeated. With
    `blind` (nothing read), the error line that follows says more than "scan incomplete"."""
    for note in scope_notes:
        say.note(note)
    if report.gaps and not blind:
        say.note(f"scan incomplete: {len(report.gaps)} collector run(s) failed; see the coverage section")
    if args.output == "table" and not args.out:
        return
    for entry in report.suppression_notes:
        say.note(suppressions.describe_note(entry))
    counts = ", ".join(f"{n} {sev}" for sev, n in report.by_severity().items() if n) or "none"
    suppressed = len(report.findings) - len(report.active)
    where = f"; report written to {args.out}" if args.out else ""
    say.note(f"{len(report.active)} finding(s) ({counts}), {suppressed} suppressed{where}")


def _credential_failure(exc: Exception) -> AuthError | None:
    """azure-identity errors that escape a collector are still a credential failure (exit 3)."""
    exceptions = sys.modules.get("azure.core.exceptions")
    if exceptions is not None and isinstance(exc, exceptions.ClientAuthenticationError):
        from asr_audit.access.credential import auth_failure_message

        return AuthError(auth_failure_message(exc))
    return None


def _masker(mask: bool) -> Callable[[str], str]:
    """What stderr text goes through: with `--mask`, every GUID is masked (see masking.py)."""
    if not mask:
        return str
    from asr_audit.app.masking import mask_guids

    return mask_guids


class _Stderr:
    """Notes and errors: one sanitised line each (tokens redacted by `clean`), masked with `--mask`."""

    def __init__(self, *, mask: bool) -> None:
        self._hide = _masker(mask)

    def note(self, message: str) -> None:
        self._write("note", message)

    def error(self, message: str) -> None:
        self._write("error", message)

    def _write(self, kind: str, message: str) -> None:
        line = " ".join(clean(self._hide(message), multiline=True).split())
        sys.stderr.write(f"{PROG}: {kind}: {line}\n")
