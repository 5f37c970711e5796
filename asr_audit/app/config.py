"""The `--config FILE` YAML: overrides for the limits in `asr_audit.rules.thresholds`.

    thresholds:
      managed_data_disk_max_gib: 65535   # Microsoft raised the limit; no release needed

A typo must not silently fall back to a default, so unknown keys, wrong types and duplicate
keys are usage errors that name the key and its line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from asr_audit.errors import UsageError
from asr_audit.rules.thresholds import THRESHOLDS, defaults
from asr_audit.strict_yaml import Document, is_null

SECTIONS = ("thresholds",)


def _int_value(key: str, node: yaml.Node, doc: Document) -> int:
    is_int = isinstance(node, yaml.ScalarNode) and node.tag.endswith(":int")
    value = yaml.safe_load(node.value) if is_int else None
    if not isinstance(value, int) or value < 0:
        raise doc.fail(
            node,
            f"thresholds.{key} must be a non-negative integer ({THRESHOLDS[key].unit}), "
            f"got {getattr(node, 'value', node.tag)!r}",
        )
    return value


def parse_thresholds(text: str, path: str = "<config>") -> dict[str, int]:
    """Defaults updated with the overrides in `text` (a YAML document)."""
    doc = Document(f"config {path}")
    root = doc.compose(text)
    result = defaults()
    if root is None:
        return result
    for key, value in doc.mapping(root, "the top level"):
        if key.value not in SECTIONS:
            raise doc.fail(key, f"unknown section {key.value!r} (known: {', '.join(SECTIONS)})")
        if is_null(value):
            continue
        for name, node in doc.mapping(value, "thresholds"):
            if name.value not in THRESHOLDS:
                known = ", ".join(sorted(THRESHOLDS))
                raise doc.fail(name, f"unknown threshold {name.value!r} (known: {known})")
            result[name.value] = _int_value(name.value, node, doc)
    return result


def load_thresholds(path: str | Path) -> dict[str, Any]:
    """Read `--config FILE`; the result is what `Context.thresholds` holds."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read config {path}: {getattr(exc, 'strerror', None) or exc}") from None
    return parse_thresholds(text, str(path))
