"""The summary message's entries, one per rule across tenants.

A summary listed one entry per finding, so the same rule on a few tenants filled its entry budget.
Now each rule is one entry naming the tenants and resources it covers (``5 keys in 3 tenants:
acme-prod: *ci-bot* (id 7), *deploy* (id 9); acme-dev: *x* (id 3) …and 2 more``); a rule with one
finding keeps the finding's own entry (its message). The per-tenant thread replies (bot) still
list every finding.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from auditor.engine.findings import Finding
from auditor.notify import blockkit as bk
from auditor.vocab import SEVERITIES, SEVERITY_RANK

MAX_RESOURCE_CHARS = 400  # the tenants and resources of one entry, after escaping
NOUNS = {"api_key": ("key", "keys"), "idp_mapping": ("Group Mapping entry", "Group Mapping "
         "entries"), "iam_member": ("IAM member", "IAM members"), "tenant": ("tenant", "tenants")}


@dataclass(frozen=True, slots=True)
class Group:
    rule_id: str
    findings: tuple[Finding, ...]

    @property
    def severity(self) -> str:
        return max((f.severity for f in self.findings), key=lambda s: SEVERITY_RANK[s])

    @property
    def changed(self) -> bool:
        return any(f.lifecycle in ("new", "reopened") for f in self.findings)

    def __len__(self) -> int:
        return len(self.findings)


def group_by_rule(findings: list[Finding], *, changed_first: bool = False) -> list[Group]:
    """One group per rule, in the order of the findings inside it; groups by highest severity
    (``changed_first``: those with a new or reopened finding before the others), then rule id."""
    by_rule: dict[str, list[Finding]] = {}
    for f in findings:
        by_rule.setdefault(f.rule_id, []).append(f)
    groups = [Group(rule, tuple(items)) for rule, items in by_rule.items()]
    groups.sort(key=lambda g: (changed_first and not g.changed, -SEVERITY_RANK[g.severity],
                               g.rule_id))
    return groups


def _noun(findings: tuple[Finding, ...]) -> str:
    kinds = {f.resource.type for f in findings}
    singular, plural = NOUNS.get(kinds.pop(), ("resource", "resources")) if len(kinds) == 1 \
        else ("resource", "resources")
    return singular if len(findings) == 1 else plural


def _resource(f: Finding) -> str:
    if f.resource.type == "tenant":
        return f"*{bk.safe(f.tenant, 100)}*"
    key_id = f" (id {f.resource.id})" if f.resource.type == "api_key" and isinstance(
        f.resource.id, int) else ""
    return f"*{bk.safe(f.resource.name, 80)}*{key_id}"


def resources_line(findings: tuple[Finding, ...], budget: int = MAX_RESOURCE_CHARS) -> str:
    """``acme-prod: *a* (id 1), *b* (id 2) +3 more; acme-dev: *c*``: every tenant named, its
    resources taken in turns (the first of each tenant, then the second...) while the line stays
    within ``budget``; a name is never cut, and what is left out is counted."""
    by_tenant: dict[str, list[Finding]] = {}
    for f in findings:
        by_tenant.setdefault(f.tenant, []).append(f)
    chosen: dict[str, list[str]] = {tenant: [] for tenant in by_tenant}

    def render() -> str:
        parts = []
        hidden_tenants = hidden = 0
        for tenant, items in by_tenant.items():
            pieces = chosen[tenant]
            if not pieces:
                hidden_tenants += 1
                hidden += len(items)
                continue
            if all(f.resource.type == "tenant" for f in items):
                parts.append(pieces[0])
                continue
            rest = len(items) - len(pieces)
            parts.append(f"{bk.safe(tenant, 100)}: {', '.join(pieces)}"
                         + (f" +{rest} more" if rest else ""))
        text = "; ".join(parts)
        if hidden_tenants:
            text += (f" …and {hidden} more in {hidden_tenants} other "
                     f"tenant{'' if hidden_tenants == 1 else 's'}")
        return text

    longest = max(len(items) for items in by_tenant.values())
    for turn in range(longest):
        for tenant, items in by_tenant.items():
            if turn >= len(items):
                continue
            chosen[tenant].append(_resource(items[turn]))
            if len(render()) > budget and sum(map(len, chosen.values())) > 1:
                chosen[tenant].pop()
                return render()
    return render()


def _tags(group: Group, *, tag_new: bool) -> str:
    life = Counter(f.lifecycle for f in group.findings)
    tags = []
    if tag_new and life.get("new"):
        tags.append(f"{life['new']} new")
    if life.get("reopened"):
        tags.append(f"{life['reopened']} reopened")
    undecided = sum(1 for f in group.findings if f.status == "unknown")
    if undecided:
        tags.append(f"{undecided} could not decide: data missing")
    severities = Counter(f.severity for f in group.findings)
    if len(severities) > 1:
        tags.append(", ".join(f"{severities[s]} {s}" for s in SEVERITIES if severities.get(s)))
    return f" _({'; '.join(tags)})_" if tags else ""


def _extent(group: Group) -> str:
    tenants = len({f.tenant for f in group.findings})
    if all(f.resource.type == "tenant" for f in group.findings):
        return f"{tenants} tenant{'' if tenants == 1 else 's'}"
    where = f" in {tenants} tenant{'' if tenants == 1 else 's'}"
    return f"{len(group)} {_noun(group.findings)}{where}"


def group_entry(group: Group, emoji: dict[str, str], *, tag_new: bool) -> str:
    first = group.findings[0]
    return (f"{emoji[group.severity]} {group.severity} · *{bk.safe(first.title, 150)}*"
            f" `{bk.safe(group.rule_id, 40)}`{_tags(group, tag_new=tag_new)}\n"
            f"      {_extent(group)}: {resources_line(group.findings)}")


def resolved_group_entry(group: Group) -> str:
    first = group.findings[0]
    return (f":white_check_mark: {bk.safe(first.title, 150)} `{bk.safe(group.rule_id, 40)}`"
            f" — {_extent(group)}: {resources_line(group.findings)}")


__all__ = ["Group", "group_by_rule", "group_entry", "resolved_group_entry", "resources_line"]
