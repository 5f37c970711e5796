"""`asr-audit`: the three ways to get an inventory, the checks before a scan, and exit codes
(DESIGN.md §3). The flags themselves are in `arguments`.

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
import os
import re
import sys
import traceback
from collections.abc import Callable, Iterable, Sequence
from typing import Any, NoReturn

from asr_audit import heap, ids
from asr_audit.access.clouds import CLOUDS, CloudProfile, unknown_region
from asr_audit.app import config, progress, runner
from asr_audit.app.arguments import (
    ARM_ENDPOINT_ENV,
    CATALOG_FORMATS,
    DEBUG_ENV,
    DEFAULT_FAIL_ON,
    PROG,
    build_parser,
    https_url,
    ignored_flags,
    output_format,
)
from asr_audit.app.terminal import choose_width
from asr_audit.atomic_write import check_writable, write_chunks_atomic
from asr_audit.collect import DEFAULT_CONNECT_TIMEOUT
from asr_audit.errors import EXIT_AUTH, EXIT_OK, EXIT_USAGE, AuditError, AuthError, UsageError
from asr_audit.inventory import Inventory
from asr_audit.report import DRAWN, FORMATS, Report
from asr_audit.report.sanitize import clean
from asr_audit.triage import baseline, suppressions

# Five dash-separated groups of 8-4-4-4-12 characters: meant as an id, so a typo in it is a usage
# error now rather than a display-name lookup later.
_GUID_SHAPED = re.compile(r"^[^\s-]{8}-[^\s-]{4}-[^\s-]{4}-[^\s-]{4}-[^\s-]{12}$")
_EXAMPLE_GUID = "00000000-0000-0000-0000-000000000000"
_SDK_SILENCER = logging.NullHandler()
EXIT_INTERRUPTED = 130


# --- running -----------------------------------------------------------------------------------------


def run() -> NoReturn:
    """The `asr-audit` command: `main` in a process that ends with it, so the heap the run builds
    is left to the process's end rather than walked by the cyclic collector (`heap`)."""
    code = main(one_shot=True)
    heap.spare_exit()
    raise SystemExit(code)


def main(argv: Sequence[str] | None = None, *, one_shot: bool = False) -> int:
    """One run, its exit code. `one_shot`: the process ends when it returns (the console command)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help / --version (0), or a usage error argparse already printed (2)
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    say = _Stderr(mask=args.mask)
    _quiet_sdk_logging()
    try:
        return _dispatch(args, say, parser, one_shot)
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


def _dispatch(args: argparse.Namespace, say: _Stderr, parser: argparse.ArgumentParser, one_shot: bool) -> int:
    if args.command in ("rules", "explain"):
        _refuse_ignored_flags(args, parser)
    if args.command == "rules":
        return _rules(args)
    if args.command == "explain":
        return _explain(args)
    # Every flag, rule id, input and output file is checked before a scan that may take minutes.
    _check_source(args)
    if args.command == "demo":
        _refuse_ignored_flags(args, parser)
    _check_outputs(args)
    args.output = _format(args.output, args.out, FORMATS)
    rules = runner.choose_rules(args.rules, args.skip_rules)
    inputs = _policy_inputs(args)
    started = runner.utc_now()
    if one_shot:
        heap.few_malloc_arenas()  # before the scan's threads, whose arenas it limits
    inventory, cloud = _inventory(args)
    if one_shot:
        heap.hold_to_exit()
    report = runner.audit(
        inventory,
        cloud=cloud,
        source_region=args.source_region,
        target_region=args.target_region,
        rules=rules,
        started_at=started,
        resource_groups=args.resource_group,
        vaults=args.vault,
        include_passed=args.include_passed,
        draw=args.output in DRAWN,
        **inputs,
    )
    shown = report
    if args.mask:
        from asr_audit.app.masking import mask_report

        shown = mask_report(report)
    _emit(_render(shown, args), args.out)
    blind = runner.nothing_read(report)
    if not args.quiet:
        scope_notes = (
            runner.scope_note(inventory, args.source_region),
            runner.resource_group_note(inventory, args.resource_group),
            runner.vault_note(inventory, args.vault),
        )
        _notes(shown, args, [n for n in scope_notes if n], say, blind=bool(blind))
        if args.command == "demo" and report.gaps:
            say.note(
                "the demo's forbidden read (403) is staged: the recording refuses it on purpose to show "
                "how a coverage gap is reported; nothing is wrong with your set-up"
            )
        if args.command == "demo" and _demo_thresholds_kept(inputs):
            say.note(
                "the demo stages ASR-DISK-LIMIT too: it warns at 3 % of the 3,000 protected disks a "
                "subscription may hold (90 % by default), so the demo's few disks show the finding"
            )
    if blind:
        say.error(blind)  # the report is written, but the exit code is 3 whatever it holds
        return EXIT_AUTH
    if args.command == "demo" and args.fail_on is None:
        return EXIT_OK  # the demo estate is broken on purpose: showing it gates nothing unless asked
    return runner.exit_code(report, args.fail_on or DEFAULT_FAIL_ON)


def _refuse_ignored_flags(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    ignored = ignored_flags(args, parser)
    if ignored:
        verb, it = ("does", "it") if len(ignored) == 1 else ("do", "them")
        raise UsageError(f"{', '.join(ignored)} {verb} nothing for {args.command}: drop {it}")


def _rules(args: argparse.Namespace) -> int:
    """`rules`: the catalog, to stdout or `--out`; flags given before the subcommand count too."""
    from asr_audit.app.catalog import render_catalog

    _check_outputs(args)
    fmt = _format(args.output, args.out, CATALOG_FORMATS)
    if fmt not in CATALOG_FORMATS:
        raise UsageError(f"rules --output must be one of {', '.join(CATALOG_FORMATS)}, not {fmt}")
    _emit((render_catalog(fmt, width=choose_width(None if args.out else sys.stdout)),), args.out)
    return EXIT_OK


def _explain(args: argparse.Namespace) -> int:
    """`explain RULE-ID`: the rule's page as shipped in the package, so it works offline."""
    from asr_audit.app.catalog import explain

    if args.output not in (None, "markdown"):
        raise UsageError(f"explain prints the rule's Markdown page: drop --output {args.output}")
    _check_outputs(args)
    _emit((explain(args.rule_id),), args.out)
    return EXIT_OK


def _format(output: str | None, out: str | None, allowed: Iterable[str]) -> str:
    try:
        return output_format(output, out, tuple(allowed))
    except ValueError as exc:
        raise UsageError(str(exc)) from None


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
    if args.backend and (args.snapshot or args.command == "demo"):
        raise UsageError("--backend chooses how a live scan reads Azure: drop it with --snapshot or demo")
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


def _demo_thresholds_kept(inputs: dict[str, Any]) -> bool:
    """Whether the demo's staged thresholds are in force (a `--config` may set them back)."""
    from asr_audit.app.replay import DEMO_THRESHOLDS

    used = inputs.get("thresholds", {})
    return all(used.get(key) == value for key, value in DEMO_THRESHOLDS.items())


def _policy_inputs(args: argparse.Namespace) -> dict[str, Any]:
    """`runner.audit` keywords from `--config`, `--suppressions`, `--baseline`; bad files are UsageErrors."""
    inputs: dict[str, Any] = {}
    if args.command == "demo":
        from asr_audit.app import replay

        inputs["thresholds"] = dict(replay.DEMO_THRESHOLDS)
    if args.config:
        inputs["thresholds"] = {**inputs.get("thresholds", {}), **config.load_thresholds(args.config)}
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
    if args.backend:
        options["backend"] = args.backend
    request = collect.ScanRequest(
        subscriptions=list(args.subscription or []),
        cloud=cloud,
        regions=[r for r in (args.source_region, args.target_region) if r],
        source_regions=[args.source_region] if args.source_region else [],
        target_regions=[args.target_region] if args.target_region else [],
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


def _render(report: Report, args: argparse.Namespace) -> Iterable[str]:
    if args.output == "table":
        from asr_audit.report import table

        terminal = None if args.out else sys.stdout
        color = terminal is not None and terminal.isatty() and not os.environ.get("NO_COLOR")
        return (table.render(report, color=color, width=choose_width(terminal), details=args.details),)
    if args.output == "csv":
        from asr_audit.report import csv_report

        return (csv_report.render(report),)
    from asr_audit.report import chunks

    return chunks(report, args.output)


def _emit(texts: Iterable[str], out: str | None) -> None:
    """Results go to `--out` (UTF-8, replaced atomically) or stdout, a piece at a time as they are
    made; a closed pipe (`| head`) is not an error."""
    if out:
        write_chunks_atomic(out, texts)
        return
    encoding = sys.stdout.encoding or "ascii"
    try:
        for text in texts:
            try:
                sys.stdout.write(text)
            except UnicodeEncodeError:
                sys.stdout.write(text.encode(encoding, "replace").decode(encoding))
        sys.stdout.flush()
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
