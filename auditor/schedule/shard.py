"""``run --shard I/N``: split the tenants across the pods of an indexed Kubernetes Job.

Pod I of an indexed Job gets JOB_COMPLETION_INDEX=I from Kubernetes; the manifest sets
SOAR_AUDITOR_SHARD_COUNT to the Job's ``completions``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol, TypeVar

SHARD_COUNT_ENV = "SOAR_AUDITOR_SHARD_COUNT"


def parse_shard(value: str | None, env: Mapping[str, str]) -> tuple[int, int] | None:
    """``"I/N"`` (0 <= I < N) -> (I, N). Without a value: JOB_COMPLETION_INDEX with
    SOAR_AUDITOR_SHARD_COUNT (an indexed Job sets the first; its manifest sets the second to
    ``completions``). None when neither is given: every tenant. ValueError when malformed."""
    if value is None or not value.strip():
        index = env.get("JOB_COMPLETION_INDEX", "").strip()
        if not index:
            return None
        count = env.get(SHARD_COUNT_ENV, "").strip()
        if not count:
            raise ValueError(
                f"JOB_COMPLETION_INDEX is set ({index}) but {SHARD_COUNT_ENV} is not: set it to "
                "the Job's completions, or pass --shard I/N"
            )
        value, source = f"{index}/{count}", f"JOB_COMPLETION_INDEX/{SHARD_COUNT_ENV}"
    else:
        source = "--shard"
    parts = value.strip().split("/")
    if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
        raise ValueError(f"{source}: expected I/N with whole numbers (e.g. 0/4), got {value!r}")
    i, n = int(parts[0]), int(parts[1])
    if n < 1 or not 0 <= i < n:
        raise ValueError(f"{source}: shard index must be 0 to N-1 and N at least 1, got {value!r}")
    return i, n


def shard_scope(shard: tuple[int, int]) -> str:
    """``"shardIofN"``: the suffix of a shard's run ids (``<start>-shardIofN``) and the scope of
    its audit lock in the state store (shards run in parallel, each shard once at a time)."""
    index, count = shard
    return f"shard{index}of{count}"


class _Named(Protocol):
    @property
    def name(self) -> str: ...


T = TypeVar("T", bound=_Named)


def select_shard(tenants: Sequence[T], shard: tuple[int, int] | None) -> list[T]:
    """The tenants of shard (I, N): with the tenants sorted by name, every N-th from the I-th.

    Balanced (shard sizes differ by one at most, so no shard is empty while N <= tenants) and
    independent of the order of the configuration file: every pod of the Job computes the same
    split. Every tenant is in exactly one shard. With more shards than tenants, the extra shards
    are empty (the caller should then exit 0 with nothing to do). Results keep the input order."""
    if shard is None:
        return list(tenants)
    index, count = shard
    ranked = sorted(range(len(tenants)), key=lambda k: tenants[k].name)
    mine = {k for position, k in enumerate(ranked) if position % count == index}
    return [t for k, t in enumerate(tenants) if k in mine]
