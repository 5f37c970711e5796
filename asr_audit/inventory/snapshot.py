"""Snapshots: the inventory as versioned JSON (`--save-snapshot`) and back (`--snapshot`).

Loading fails closed. A snapshot may be hand-edited or cut short, and an empty list in it reads
as "nothing there": so what the file does not show was read (a missing section, a subscription
without a record for a subscription-wide collector) comes back as a `not_collected` gap, and a
value the rules could not interpret is an input error (exit 2), never a silent pass.
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import functools
import json
import sys
import types
import typing
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from asr_audit.atomic_write import write_chunks_atomic
from asr_audit.errors import UsageError, json_error
from asr_audit.heap import no_cyclic_gc
from asr_audit.inventory import sharing
from asr_audit.inventory.model import (
    SERVICE_TAGS,
    SUBSCRIPTION_COLLECTORS,
    Coverage,
    CoverageStatus,
    Inventory,
)
from asr_audit.redact import scrub_json

SNAPSHOT_SCHEMA_VERSION = 1
SNAPSHOT_KIND = "asr-audit-inventory"


def to_json(inventory: Inventory) -> dict[str, Any]:
    """What `dataclasses.asdict` gives, by converters built once per class (`_encoder`):
    asdict's per-object reflection and deep copies made saving large inventories slow."""
    return {
        "kind": SNAPSHOT_KIND,
        "schema_version": SNAPSHOT_SCHEMA_VERSION,
        **_encoder(Inventory)(inventory),
    }


def dumps(inventory: Inventory) -> str:
    """The snapshot text, with every token-like value redacted (DESIGN.md §8.2)."""
    return "".join(_chunks(inventory))


def _chunks(inventory: Inventory) -> Iterator[str]:
    """The snapshot text in pieces, each record encoded as it is reached, so saving never holds
    the whole inventory as JSON (`save` writes the pieces as they come).

    One record per line inside each section: readable and diffable, and each line is written by
    json's C encoder (an indented dump goes through its pure-Python one, seconds for 100k
    resources). Each piece is redacted on its own (`redact.scrub_json`)."""
    yield "{\n "
    entries: list[tuple[str, Any, Encode | None, Encode | None]] = [
        ("kind", SNAPSHOT_KIND, None, None),
        ("schema_version", SNAPSHOT_SCHEMA_VERSION, None, None),
    ]
    entries += [
        (name, getattr(inventory, name), convert, item)
        for name, (convert, item) in _field_encoders(Inventory).items()
    ]
    for n, (name, value, convert, item) in enumerate(entries):
        lead = (",\n " if n else "") + f"{json.dumps(name)}: "
        if isinstance(value, list) and value:
            yield scrub_json(lead + "[")
            for i, record in enumerate(value):
                encoded = record if item is None else item(record)
                yield scrub_json(f"{',' if i else ''}\n  {json.dumps(encoded, separators=(',', ':'))}")
            yield "\n ]"
        else:
            yield scrub_json(lead + json.dumps(value if convert is None else convert(value)))
    yield "\n}\n"


def save(inventory: Inventory, path: str | Path) -> None:
    """Write the snapshot atomically (a kill mid-write must not destroy yesterday's), a record at
    a time."""
    with no_cyclic_gc():
        write_chunks_atomic(path, _chunks(inventory), what="snapshot")


def from_json(data: Any) -> Inventory:
    """Rebuild a snapshot, failing closed: what it does not show was not read.

    A section missing from the file, or a subscription without a coverage record for a
    subscription-wide collector, becomes a `not_collected` gap instead of an empty,
    complete list; a coverage entry with an unknown status is an error (exit 2).
    """
    if not isinstance(data, dict):
        data = {}
    _check_kind(data.get("kind"), data.get("schema_version"))
    body = {k: v for k, v in data.items() if k not in ("kind", "schema_version")}
    try:
        with _reading():
            inventory = _decoder(Inventory)(body)
    except _Invalid as exc:
        raise _invalid(exc) from None
    return _completed(inventory, set(body))


def _check_kind(kind: object, version: object) -> None:
    if kind != SNAPSHOT_KIND:
        raise UsageError("not an asr-audit inventory snapshot (missing kind: asr-audit-inventory)")
    if version != SNAPSHOT_SCHEMA_VERSION:
        raise UsageError(
            f"snapshot schema_version {version!r} is not supported (expected {SNAPSHOT_SCHEMA_VERSION})"
        )


def _invalid(exc: _Invalid) -> UsageError:
    return UsageError(f"invalid snapshot: snapshot{exc.where}: {exc.problem}")


def _completed(inventory: Inventory, present: set[str]) -> Inventory:
    _check_coverage(inventory.coverage)
    inventory.coverage.extend(_unread_sections(inventory, present=present))
    return inventory


def load(path: str | Path) -> Inventory:
    """Read a snapshot. One `dumps` wrote is read a line at a time, each record decoded as it is
    read, so the file's text and its parsed JSON are never held whole (a third and two thirds of
    the peak memory of loading 100k resources); anything else (a hand-edited or reformatted
    file) is parsed whole, which also words any JSON error with its line."""
    try:
        with open(path, encoding="utf-8") as stream:
            inventory = _load_lines(stream)
            if inventory is not None:
                return inventory
            stream.seek(0)
            text = stream.read()
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or exc
        raise UsageError(f"cannot read snapshot {path}: {reason}") from None
    try:
        with no_cyclic_gc():
            data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"snapshot {path} is not valid JSON: {json_error(exc)}") from None
    del text  # only the parsed form is needed from here
    return from_json(data)


class _Layout(Exception):
    """The file is not laid out as `dumps` writes it: read it whole instead."""


_END_OF_LIST = (" ]\n", " ],\n", " ]", " ],")
_KEY = json.JSONDecoder()


def _load_lines(stream: typing.TextIO) -> Inventory | None:
    """The inventory from `dumps`'s layout (one section per line, or one record per line inside a
    list), or None for any other layout. The kind and version come first, as `dumps` writes them."""
    fields = _field_decoders(Inventory)
    kwargs: dict[str, Any] = {}
    present: set[str] = set()
    head: list[tuple[str, Any]] = []
    try:
        if stream.readline() != "{\n":
            return None
        with _reading():
            for line in stream:
                if line.rstrip("\n") == "}":
                    break
                name, rest = _entry(line)
                if len(head) < 2:
                    head.append((name, _value(rest)))
                    if len(head) == 2:
                        if [k for k, _ in head] != ["kind", "schema_version"]:
                            return None
                        _check_kind(head[0][1], head[1][1])
                    continue
                present.add(name)
                convert, item = fields.get(name, (None, None))
                if rest == "[" and item is not None:
                    kwargs[name] = _decoded_items(name, _items(stream), item)
                    continue
                value = list(_items(stream)) if rest == "[" else _value(rest)
                if convert is not None:
                    kwargs[name] = _decoded(name, value, convert)
            else:
                return None  # cut short: the whole-file parse says where
        if len(head) < 2 or stream.read().strip():
            return None
    except _Layout:
        return None
    except _Invalid as exc:
        raise _invalid(exc) from None
    return _completed(Inventory(**kwargs), present)


def _entry(line: str) -> tuple[str, str]:
    """(name, what follows `: `) of a section's line, ` "name": value,`."""
    if not line.startswith(' "'):
        raise _Layout
    try:
        name, end = _KEY.raw_decode(line, 1)
    except json.JSONDecodeError:
        raise _Layout from None
    if not isinstance(name, str) or line[end : end + 2] != ": ":
        raise _Layout
    return name, line[end + 2 :].rstrip("\n").removesuffix(",")


def _value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        raise _Layout from None


def _items(stream: typing.TextIO) -> typing.Iterator[Any]:
    """A list section's records, one per line, up to its closing bracket."""
    for line in stream:
        if line in _END_OF_LIST:
            return
        if not line.startswith("  "):
            raise _Layout
        yield _value(line[2:].rstrip("\n").removesuffix(","))
    raise _Layout


def _decoded_items(name: str, records: typing.Iterator[Any], item: Decode) -> list[Any]:
    out = []
    for i, record in enumerate(records):
        try:
            out.append(item(record))
        except _Invalid as exc:
            raise exc.at(f"[{i}]").at(f".{name}") from None
    return out


def _decoded(name: str, value: Any, convert: Decode) -> Any:
    try:
        return convert(value)
    except _Invalid as exc:
        raise exc.at(f".{name}") from None


# Sections that are not resource records: what was scanned and how it went.
_BOOKKEEPING = frozenset({"cloud", "collected_at", "subscriptions", "coverage"})


def _check_coverage(coverage: list[Coverage]) -> None:
    """Types are checked by `_build`; the status must also be one the rules know how to read."""
    for i, entry in enumerate(coverage):
        if not isinstance(entry.status, CoverageStatus):  # `_convert` left it as read
            raise UsageError(
                f"invalid snapshot: snapshot.coverage[{i}] ({entry.collector} in {entry.subscription_id}): "
                f"status {entry.status!r} is not one of {', '.join(sorted(CoverageStatus))}"
            )
        if not entry.collector:
            raise UsageError(f"invalid snapshot: snapshot.coverage[{i}]: empty collector")


def _unread_sections(inventory: Inventory, present: set[str]) -> list[Coverage]:
    """`not_collected` records for what the snapshot does not show was read.

    A section key absent from the file gets one per subscription (once per snapshot for
    service tags); a subscription-wide collector with no record for a subscription gets one too.
    Both are what a hand-edited or truncated snapshot looks like; a saved one never has them.
    """
    subscriptions = [s.id for s in inventory.subscriptions]
    if not subscriptions:
        return []
    recorded = {(c.subscription_id.lower(), c.kind) for c in inventory.coverage}
    added: list[Coverage] = []

    def add(subscription_id: str, collector: str, detail: str) -> None:
        recorded.add((subscription_id.lower(), collector))
        added.append(Coverage(subscription_id, collector, CoverageStatus.NOT_COLLECTED, detail))

    for f in dataclasses.fields(inventory):
        if f.name in _BOOKKEEPING or f.name in present:
            continue
        scope = subscriptions[:1] if f.name == SERVICE_TAGS else subscriptions
        for sid in scope:
            add(sid, f.name, f"section {f.name} is absent from the snapshot")
    for collector in SUBSCRIPTION_COLLECTORS:
        for sid in subscriptions:
            if (sid.lower(), collector) not in recorded:
                add(sid, collector, f"the snapshot has no coverage record for {collector} here")
    if not any(kind == SERVICE_TAGS for _, kind in recorded):
        add(subscriptions[0], SERVICE_TAGS, "the snapshot has no coverage record for service_tags")
    return added


# --- converters, built once per class ----------------------------------------------------------
#
# Loading checks every value's type, so a bad snapshot fails clearly. The checks are closures
# made once per field type (not `typing` introspection per value), and the path of a bad value
# is put together only when one is found: a 100k-resource snapshot loads in about a second.

Decode = Callable[[Any], Any]
Encode = Callable[[Any], Any]


class _Invalid(Exception):
    """A value of the wrong type; `where` grows from the value up to the snapshot as it unwinds."""

    def __init__(self, problem: str, where: str = "") -> None:
        super().__init__(problem)
        self.problem, self.where = problem, where

    def at(self, step: str) -> _Invalid:
        self.where = step + self.where
        return self


@functools.cache
def _schema(cls: type) -> tuple[tuple[str, Any, bool], ...]:
    """(name, type hint, required) per field of a dataclass, resolved once per class."""
    hints = typing.get_type_hints(cls)
    return tuple(
        (
            f.name,
            hints[f.name],
            f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING,
        )
        for f in dataclasses.fields(cls)
    )


@functools.cache
def _decoder(cls: type) -> Decode:
    """JSON object -> instance of the dataclass `cls`, every field checked."""
    fields = [(name, _decode_hint(hint), required) for name, hint, required in _schema(cls)]
    # Frozen records (rules, routes) are hashable, and equal ones are kept once (`sharing.record`).
    make = (lambda **kwargs: sharing.record(cls(**kwargs))) if cls.__hash__ is not None else cls

    def decode(data: Any) -> Any:
        if not isinstance(data, dict):
            raise _Invalid("expected an object")
        kwargs: dict[str, Any] = {}
        missing: list[str] = []
        for name, convert, required in fields:
            if name in data:
                try:
                    kwargs[name] = convert(data[name])
                except _Invalid as exc:
                    raise exc.at(f".{name}") from None
            elif required:
                missing.append(name)
        if missing:
            raise _Invalid(f"missing {', '.join(missing)}")
        return make(**kwargs)

    return decode


@functools.cache
def _field_decoders(cls: type) -> dict[str, tuple[Decode, Decode | None]]:
    """Per field of the dataclass `cls`: its decoder, and its items' decoder if it is a list
    (`load` decodes a list section's records one at a time)."""
    out: dict[str, tuple[Decode, Decode | None]] = {}
    for name, hint, _ in _schema(cls):
        is_list = typing.get_origin(hint) is list
        out[name] = (_decode_hint(hint), _decode_hint(typing.get_args(hint)[0]) if is_list else None)
    return out


def _decode_hint(hint: Any) -> Decode:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        (inner,) = [a for a in typing.get_args(hint) if a is not type(None)]
        convert_inner = _decode_hint(inner)
        return lambda value: None if value is None else convert_inner(value)
    if origin is list:
        return _decode_sequence(_decode_hint(typing.get_args(hint)[0]), list)
    if origin is tuple:  # tuple[X, ...]: the model has no fixed-length tuples
        item = typing.get_args(hint)[0]
        convert = _decode_sequence(_decode_hint(item), tuple)
        return _shared(convert) if item is str else convert
    if origin is dict:
        return _decode_dict(_decode_hint(typing.get_args(hint)[1]))
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return lambda value: _decoder(hint)(value)  # late: a class may contain itself
    if hint is bool:
        return _checked(lambda v: isinstance(v, bool), "expected true or false")
    if hint is int:
        return _decode_int
    if hint is str:
        return _decode_str
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return _decode_enum(hint)
    return lambda value: value


def _checked(ok: Callable[[Any], bool], problem: str) -> Decode:
    def convert(value: Any) -> Any:
        if not ok(value):
            raise _Invalid(problem)
        return value

    return convert


def _decode_int(value: Any) -> int:
    """One object per distinct number while reading (`sharing.number`): rule priorities recur."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise _Invalid("expected an integer")
    return sharing.number(value)


def _decode_str(value: Any) -> str:
    """The one copy of each distinct text. JSON makes a new string per occurrence, and the same
    ids (of subnets, NICs, VNets), regions and rule fields recur across records: at 100k
    resources 5.1 million strings held 446,000 texts, and the copies were 300 MiB of the
    inventory's 725 (bench/README.md)."""
    if not isinstance(value, str):
        raise _Invalid("expected a string")
    return sys.intern(value)


@contextlib.contextmanager
def _reading() -> Iterator[None]:
    """Decoding: the cyclic collector paused, and equal tuples shared (`sharing`)."""
    with no_cyclic_gc(), sharing.building():
        yield


def _shared(convert: Decode) -> Decode:
    """A list of texts as the tuple equal to it kept before (`sharing`), found by the list as read:
    equal to a tuple decoded before, its items are those checked and interned texts. Only a new one
    is checked and interned item by item (`convert`); at 100k resources 2.9 million such fields held
    124,000 values."""

    def convert_shared(value: Any) -> Any:
        try:
            known = sharing.known(tuple(value)) if isinstance(value, list) else None
        except TypeError:  # an unhashable item (an object, a list): `convert` says where
            known = None
        return known if known is not None else sharing.shared(convert(value))

    return convert_shared


def _decode_sequence(item: Decode, make: Callable[[Iterator[Any]], Any]) -> Decode:
    """A JSON list as `make` (list or tuple) of its decoded items."""

    def convert(value: Any) -> Any:
        if not isinstance(value, list):
            raise _Invalid("expected a list")
        try:
            return make(map(item, value))
        except _Invalid as exc:  # find which one, only now
            for i, v in enumerate(value):
                try:
                    item(v)
                except _Invalid as inner:
                    raise inner.at(f"[{i}]") from None
            raise exc

    return convert


def _decode_dict(item: Decode) -> Decode:
    def convert(value: Any) -> Any:
        if not isinstance(value, dict):
            raise _Invalid("expected an object")
        out = {}
        for k, v in value.items():
            try:
                out[str(k)] = item(v)
            except _Invalid as exc:
                raise exc.at(f".{k}") from None
        return out

    return convert


def _decode_enum(kind: type[enum.Enum]) -> Decode:
    def convert(value: Any) -> Any:
        if not isinstance(value, str):
            raise _Invalid("expected a string")
        try:
            return kind(value)
        except ValueError:  # left as read, for `_check_coverage` to name with its entry
            return value

    return convert


@functools.cache
def _field_encoders(cls: type) -> dict[str, tuple[Encode | None, Encode | None]]:
    """Per field of the dataclass `cls`: its encoder, and its items' encoder if it is a list
    (None where JSON takes the value as it is)."""
    out: dict[str, tuple[Encode | None, Encode | None]] = {}
    for name, hint, _ in _schema(cls):
        is_list = typing.get_origin(hint) is list
        out[name] = (_encode_hint(hint), _encode_hint(typing.get_args(hint)[0]) if is_list else None)
    return out


@functools.cache
def _encoder(cls: type) -> Encode:
    """Instance of the dataclass `cls` -> what `dataclasses.asdict` makes of it."""
    fields = [(name, _encode_hint(hint)) for name, hint, _ in _schema(cls)]

    def encode(obj: Any) -> dict[str, Any]:
        return {
            name: value if convert is None else convert(value)
            for name, convert in fields
            for value in (getattr(obj, name),)
        }

    return encode


def _encode_hint(hint: Any) -> Encode | None:
    """None for a value JSON takes as it is (str, int, bool, None, a str enum)."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        (inner,) = [a for a in typing.get_args(hint) if a is not type(None)]
        convert = _encode_hint(inner)
        if convert is None:
            return None
        return lambda value: None if value is None else convert(value)
    if origin in (list, tuple):
        item = _encode_hint(typing.get_args(hint)[0])
        if item is None:
            return list  # a copy, as asdict makes; a tuple becomes the list JSON holds
        each: Encode = item
        return lambda value: [each(v) for v in value]
    if origin is dict:
        item = _encode_hint(typing.get_args(hint)[1])
        if item is None:
            return lambda value: {k: list(v) if isinstance(v, list) else v for k, v in value.items()}
        return lambda value: {k: item(v) for k, v in value.items()}
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return lambda value: _encoder(hint)(value)
    return None
