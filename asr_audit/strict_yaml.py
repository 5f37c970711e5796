"""Strict YAML for the files a user writes (`--config`, `--suppressions`): every error names the
file and the line.

A typo in a threshold or a suppression must not fall back to a default or match more than meant,
so both files are read as node trees (line numbers kept), keys must be plain names and may not
repeat, and a parse error says where the parser gave up and where the construct it was reading
began (an unclosed quote is reported at the end of the file; its opening line is the one to fix).
"""

from __future__ import annotations

import yaml

from asr_audit.errors import UsageError

_NULL_TAG = "tag:yaml.org,2002:null"


def line(node: yaml.Node) -> int:
    return node.start_mark.line + 1


def is_null(node: yaml.Node | None) -> bool:
    return node is None or node.tag == _NULL_TAG


class Document:
    """One user file being read; `what` is how messages name it (`config x.yaml`)."""

    def __init__(self, what: str) -> None:
        self.what = what

    def fail(self, node: yaml.Node, problem: str) -> UsageError:
        return UsageError(f"{self.what}, line {line(node)}: {problem}")

    def compose(self, text: str) -> yaml.Node | None:
        try:
            return yaml.compose(text, Loader=yaml.SafeLoader)
        except yaml.MarkedYAMLError as exc:
            raise UsageError(f"{self.what}{_where(exc)}") from None
        except yaml.YAMLError as exc:
            raise UsageError(f"{self.what}: invalid YAML: {' '.join(str(exc).split())}") from None

    def key(self, node: yaml.Node) -> str:
        if not isinstance(node, yaml.ScalarNode):
            raise self.fail(node, "keys must be plain names")
        return str(node.value)

    def mapping(self, node: yaml.Node, where: str) -> list[tuple[yaml.ScalarNode, yaml.Node]]:
        """The (key, value) pairs of a mapping node, refusing anything else and duplicate keys."""
        if not isinstance(node, yaml.MappingNode):
            raise self.fail(node, f"{where} must be a mapping")
        seen: set[str] = set()
        pairs = []
        for key, value in node.value:
            name = self.key(key)
            if name in seen:
                raise self.fail(key, f"duplicate key {name!r} in {where}")
            seen.add(name)
            pairs.append((key, value))
        return pairs


def _where(exc: yaml.MarkedYAMLError) -> str:
    mark = exc.problem_mark or exc.context_mark
    text = f", line {mark.line + 1}: invalid YAML: {exc.problem or exc.context}" if mark else f": {exc}"
    if exc.context and exc.context_mark and exc.context_mark is not mark:
        text += f" ({exc.context} at line {exc.context_mark.line + 1})"
    return text
