"""Access to ARM: credentials, clouds and the HTTP pipeline policies every request passes through.

The modules import the Azure SDK at module level; this package's own namespace holds only the
limits the command line shows in `--help`, so that stays free of SDK imports.
"""

# DESIGN.md §8.2: a stalled or trickling read must not hold a nightly gate for minutes.
DEFAULT_CONNECT_TIMEOUT = 10.0
DEFAULT_READ_TIMEOUT = 30.0
DEFAULT_DEADLINE = 1800.0
