"""Service tags by name, with the regional hierarchy Azure gives them (`Storage` covers `Storage.EastUS`).

Routes, NSG rules and firewall rules all name tags; expanding one to its prefixes is costly for
the large tags (AzureCloud), so one index per analysis is shared by every rule (`shared_index`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Protocol, TypeVar

from asr_audit import ids
from asr_audit.inventory import Inventory, ServiceTag
from asr_audit.net.prefixes import Network, PrefixSet, parse_prefixes


class ServiceTagIndex:
    """Service tags by name, case-insensitively, with the regional hierarchy made explicit.

    `Storage` covers `Storage.EastUS`: expanding a top-level tag adds its regional tags'
    prefixes, so a rule or route on `Storage` covers every regional destination even where
    the collected lists disagree.
    """

    def __init__(self, tags: Iterable[ServiceTag]) -> None:
        self._tags = {t.name.lower(): t for t in tags if t.name}
        self._regional: dict[str, list[ServiceTag]] = {}
        for tag in self._tags.values():
            base, dot, _ = tag.name.partition(".")
            if dot:
                self._regional.setdefault(base.lower(), []).append(tag)
        self._prefixes: dict[str, list[Network]] = {}
        self._sets: dict[str, PrefixSet | None] = {}
        self._listed: dict[str, PrefixSet] = {}

    def __bool__(self) -> bool:
        return bool(self._tags)

    def get(self, name: str | None) -> ServiceTag | None:
        return self._tags.get((name or "").strip().lower())

    def regional(self, base: str, region: str | None) -> ServiceTag | None:
        """The tag of `base` for `region` (`Storage`, `East US` -> `Storage.EastUS`), by the
        tags' own `region` field, else by name."""
        want = ids.region(region)
        if not want:
            return None
        for tag in self._regional.get(base.lower(), ()):
            if ids.region(tag.region) == want:
                return tag
        return self.get(f"{base}.{want}")

    def prefixes(self, name: str) -> list[Network] | None:
        """The tag's prefixes plus, for a top-level tag, its regional tags'; None if unknown.

        Kept as the tags list them (not merged): a route on a tag is one route per listed
        prefix, and merging would change which route is the longest match.
        """
        key = name.strip().lower()
        if key in self._prefixes:
            return self._prefixes[key]
        tag = self._tags.get(key)
        if tag is None:
            return None
        listed = list(tag.address_prefixes)
        if "." not in key:
            listed += [p for child in self._regional.get(key, ()) for p in child.address_prefixes]
        nets, _ = parse_prefixes(listed)
        self._prefixes[key] = nets
        return nets

    def expand(self, name: str) -> PrefixSet | None:
        """The tag's addresses as one set (cached: NSG rules name the same few tags again and again)."""
        key = name.strip().lower()
        if key not in self._sets:
            nets = self.prefixes(key)
            self._sets[key] = None if nets is None else PrefixSet(nets)
        return self._sets[key]

    def listed(self, tag: ServiceTag) -> PrefixSet:
        """The prefixes the tag itself lists (no regional children), as one set: every workload
        subnet asks for the same few destination tags, so each is parsed once per analysis, and
        the same object comes back each time (callers may cache results by its identity)."""
        key = tag.name.strip().lower()
        found = self._listed.get(key)
        if found is None:
            found = self._listed[key] = PrefixSet(tag.address_prefixes)
        return found

    @staticmethod
    def name_covers(outer: str, inner: str) -> bool:
        """By name alone: `Storage` covers `Storage.EastUS` and itself, not `StorageSyncService`."""
        o, i = outer.strip().lower(), inner.strip().lower()
        return i == o or i.startswith(o + ".")


class Analysis(Protocol):
    """What `shared_index` needs of a rule's context: the inventory, and a per-analysis memo."""

    @property
    def inventory(self) -> Inventory: ...

    @property
    def memo(self) -> dict[str, Any]: ...


T = TypeVar("T")


def memoised(analysis: Analysis, key: str, kind: type[T], build: Callable[[], T]) -> T:
    """What `key` names in the analysis's memo, built on first use: compiled structures (the tag
    index, route sets, NSGs) are shared by every rule of one analysis and by no other."""
    found = analysis.memo.get(key)
    if not isinstance(found, kind):
        found = analysis.memo[key] = build()
    return found


def shared_index(analysis: Analysis) -> ServiceTagIndex:
    """The analysis's one index: tag expansions are cached inside it, so rules that share it expand
    AzureCloud once. Kept in the analysis's memo rather than on the inventory index, so the
    inventory does not depend on network logic."""
    return memoised(
        analysis,
        "service_tag_index",
        ServiceTagIndex,
        lambda: ServiceTagIndex(analysis.inventory.service_tags),
    )
