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

SECTIONS = ("thresholds",)


def _line(node: yaml.Node) -> int:
    return node.start_mark.line + 1


def _mapping(node: yaml.Node, where: str, path: str) -> list[tuple[yaml.ScalarNode, yaml.Node]]:
    """The (key, value) pairs of a mapping node, refusing anything else and duplicate keys."""
    if not isinstance(node, yaml.MappingNode):
        raise UsageError(f"config {path} line {_line(node)}: {where} must be a mapping")
    seen: set[str] = set()
    pairs = []
    for key, value in node.value:
        if not isinstance(key, yaml.ScalarNode):
            raise UsageError(f"config {path} line {_line(key)}: {where} keys must be plain names")
        if key.value in seen:
            raise UsageError(f"config {path} line {_line(key)}: duplicate key {key.value!r} in {where}")
        seen.add(key.value)
        pairs.append((key, value))
    return pairs


def _int_value(key: str, node: yaml.Node, path: str) -> int:
    is_int = isinstance(node, yaml.ScalarNode) and node.tag.endswith(":int")
    value = yaml.safe_load(node.value) if is_int else None
    if not isinstance(value, int) or value < 0:
        raise UsageError(
            f"config {path} line {_line(node)}: thresholds.{key} must be a non-negative integer "
            f"({THRESHOLDS[key].unit}), got {getattr(node, 'value', node.tag)!r}"
        )
    return value


def parse_thresholds(text: str, path: str = "<config>") -> dict[str, int]:
    """Defaults updated with the overrides in `text` (a YAML document)."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise UsageError(f"config {path}{where}: not valid YAML: {problem}") from None
    result = defaults()
    if root is None:
        return result
    for key, value in _mapping(root, "the top level", path):
        if key.value not in SECTIONS:
            known = ", ".join(SECTIONS)
            raise UsageError(
                f"config {path} line {_line(key)}: unknown section {key.value!r} (known: {known})"
            )
        if isinstance(value, yaml.ScalarNode) and value.tag.endswith(":null"):
            continue
        for name, node in _mapping(value, "thresholds", path):
            if name.value not in THRESHOLDS:
                known = ", ".join(sorted(THRESHOLDS))
                raise UsageError(
                    f"config {path} line {_line(name)}: unknown threshold {name.value!r} (known: {known})"
                )
            result[name.value] = _int_value(name.value, node, path)
    return result


def load_thresholds(path: str | Path) -> dict[str, Any]:
    """Read `--config FILE`; the result is what `Context.thresholds` holds."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read config {path}: {getattr(exc, 'strerror', None) or exc}") from None
    return parse_thresholds(text, str(path))
