"""Benchmarks: synthetic tenants and a scan through the fake ARM server (not part of the test suite)."""


def byte_compile() -> None:
    """Byte-compile the project as pip does when it installs a package.

    An editable install under `PYTHONDONTWRITEBYTECODE=1` (this machine's environment) keeps no
    bytecode, so every `asr-audit` process compiled the project's modules from source: 0.13 s of a
    target-1 audit and 0.05 s of `--help`, which an installed copy never spends. The SDKs the naive
    listing imports were compiled when pip installed them, so the comparison was lopsided."""
    import compileall
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    for package in ("asr_audit", "bench"):
        compileall.compile_dir(root / package, quiet=1)
