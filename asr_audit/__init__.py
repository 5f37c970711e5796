"""asr-audit: read-only Azure Site Recovery readiness audit."""

# The one place the version is written: pyproject.toml reads it from here (hatch's dynamic
# version), and the CLI's --version and every report's `tool.version` import it.
__version__ = "0.1.0"
