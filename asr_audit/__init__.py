"""asr-audit: read-only Azure Site Recovery readiness audit."""

__version__ = "0.1.0"
