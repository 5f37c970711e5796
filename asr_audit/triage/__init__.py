"""What a reviewer decided about earlier findings: suppressions with an expiry, and a baseline
report to mark findings new, unchanged or resolved."""
