"""The source side's hybrid connectivity: each VNet holding workloads, with what it reaches
on-premises (its own gateway, or a hub's through gateway transit, per `net.connectivity`).

The ER-* rules each ask a different question of the same source sides (which circuits serve
them, whether the recovery side can reach on-premises too, which gateways are in scope).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from asr_audit import ids
from asr_audit.inventory import VirtualNetwork
from asr_audit.net import connectivity
from asr_audit.net.connectivity import Reach
from asr_audit.rules.base import Context
from asr_audit.rules.common.audited import Workload, placements, workload_ref


@dataclass(slots=True)
class SourceSide:
    """A VNet holding protected or candidate VMs, with what it reaches on-premises."""

    vnet: VirtualNetwork
    reach: Reach
    workloads: dict[str, Workload] = field(default_factory=dict)

    @property
    def hybrid(self) -> bool:
        """Reaches on-premises, or may (through a hub that could not be read)."""
        return bool(self.reach.attachments or self.reach.unknown)


def source_sides(ctx: Context) -> tuple[SourceSide, ...]:
    """Each source VNet with its reach, in id order; resolved once per analysis for the ER-* rules."""

    def build() -> tuple[SourceSide, ...]:
        sides: dict[str, SourceSide] = {}
        for p in placements(ctx):
            key = ids.key(p.vnet.id)
            if key not in sides:
                sides[key] = SourceSide(p.vnet, connectivity.hybrid_reach(ctx.index, p.vnet))
            sides[key].workloads.setdefault(ids.key(p.workload.vm.id), p.workload)
        return tuple(sides[k] for k in sorted(sides))

    return ctx.shared("source_sides", build)


def quoted_names(items: Iterable[str]) -> str:
    return ", ".join(f"'{n}'" for n in dict.fromkeys(items))


def vm_refs(workloads: Iterable[Workload]) -> list[dict[str, str]]:
    return [workload_ref(w) for w in workloads]
