"""Facts of an IAM member of the SecOps project (resource ``iam_member``): the roles it holds,
which of them are administrative (``admin_iam_roles``), which only under a condition, and the
administrative roles it gained since the last complete audit that read the IAM policy.

A binding with a condition grants its role only when the condition holds, which the auditor does
not evaluate: an administrative role held only that way makes ``has_admin_role`` unknown."""

from __future__ import annotations

from typing import Any

from auditor.engine.access import Grant
from auditor.engine.context import TenantContext
from auditor.engine.facts import IAM_MEMBERS, ItemFacts
from auditor.soar.models import IamCondition, is_machine_identity

fact = IAM_MEMBERS.fact
hidden = IAM_MEMBERS.hidden
MEMBER_TYPES = ("serviceAccount", "user", "group", "domain", "principal", "principalSet",
                "public", "deleted", "other")


class IamMemberFacts(ItemFacts):
    """The facts of one member of the project's IAM policy (the item is the member text)."""

    __slots__ = ()
    registry = IAM_MEMBERS

    def __init__(self, ctx: TenantContext, member: str) -> None:
        super().__init__(ctx, member)


def member_type(member: str) -> str:
    text = member.strip()
    if text.startswith("principalSet://"):
        return "principalSet"
    if text.startswith("principal://"):
        return "principal"
    if text in ("allUsers", "allAuthenticatedUsers"):
        return "public"
    prefix = text.split(":", 1)[0] if ":" in text else ""
    for kind in ("serviceAccount", "user", "group", "domain", "deleted"):
        if prefix.casefold() == kind.casefold():
            return kind
    return "other"


def condition_dict(condition: IamCondition) -> dict[str, Any]:
    return {"title": condition.title, "expression": condition.expression,
            "description": condition.description}


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


@hidden("_grants")
def _grants(ctx: TenantContext, member: str, f: IamMemberFacts) -> tuple[Grant, ...]:
    return ctx.access.grants.get(member, ())


@fact("tenant", "str", "The tenant's name, as configured.")
def _tenant(ctx: TenantContext, member: str, f: IamMemberFacts) -> str:
    return ctx.tenant


@fact("member", "str", "The member as the IAM policy writes it (`serviceAccount:...`, "
      "`user:...`, `group:...`, `principal://...`, `principalSet://...`).")
def _member(ctx: TenantContext, member: str, f: IamMemberFacts) -> str:
    return member


@fact("member_type", "enum", "The kind of member, from its prefix: `serviceAccount`, `user`, "
      "`group`, `domain`, `principal`, `principalSet`, `public` (allUsers, "
      "allAuthenticatedUsers), `deleted` or `other`.", choices=MEMBER_TYPES)
def _type(ctx: TenantContext, member: str, f: IamMemberFacts) -> str:
    return member_type(member)


@fact("is_machine", "bool", "The member is a machine identity: a service account or a workload "
      "identity (`serviceAccount:`, `principal://`, `principalSet://`, or an address ending in "
      "`.gserviceaccount.com`).")
def _machine(ctx: TenantContext, member: str, f: IamMemberFacts) -> bool:
    return is_machine_identity(member)


@fact("iam_project", "str", "The Google Cloud project whose IAM policy was read.", nullable=True,
      unknown_reason="the collector did not say which project's policy it read")
def _project(ctx: TenantContext, member: str, f: IamMemberFacts) -> str | None:
    return ctx.access.iam_project


@fact("roles", "list[str]", "Every role the member holds on the project, with or without a "
      "condition.")
def _roles(ctx: TenantContext, member: str, f: IamMemberFacts) -> list[str]:
    return _unique([g.role for g in f["_grants"]])


@hidden("_unconditional")
def _unconditional(ctx: TenantContext, member: str, f: IamMemberFacts) -> list[str]:
    return _unique([g.role for g in f["_grants"] if g.condition is None])


@fact("conditional_roles", "list[str]", "Roles the member holds only through bindings with a "
      "condition.")
def _conditional(ctx: TenantContext, member: str, f: IamMemberFacts) -> list[str]:
    plain = set(f["_unconditional"])
    return [r for r in f["roles"] if r not in plain]


@fact("admin_roles", "list[str]", "Roles named in the `admin_iam_roles` parameter (case-"
      "insensitive) that the member holds unconditionally.")
def _admin(ctx: TenantContext, member: str, f: IamMemberFacts) -> list[str]:
    return [r for r in f["_unconditional"] if ctx.access.is_admin_role(r)]


@fact("conditional_admin_roles", "list[str]", "Roles named in `admin_iam_roles` that the member "
      "holds only through bindings with a condition.")
def _cond_admin(ctx: TenantContext, member: str, f: IamMemberFacts) -> list[str]:
    return [r for r in f["conditional_roles"] if ctx.access.is_admin_role(r)]


@fact("admin_role_conditions", "dict", "The conditions of the bindings that give the member a "
      "role of `conditional_admin_roles`: role -> list of `{title, expression, description}`.")
def _conditions(ctx: TenantContext, member: str, f: IamMemberFacts) -> dict[str, Any]:
    wanted = set(f["conditional_admin_roles"])
    out: dict[str, list[dict[str, Any]]] = {}
    for grant in f["_grants"]:
        if grant.role in wanted and grant.condition is not None:
            out.setdefault(grant.role, []).append(condition_dict(grant.condition))
    return out


@fact("has_admin_role", "bool", "The member holds a role named in `admin_iam_roles`: true when "
      "unconditionally, false when not at all, unknown when only through a binding with a "
      "condition.", nullable=True,
      unknown_reason="the member holds an administrative role only through a binding with a "
      "condition, which the auditor does not evaluate (see admin_role_conditions)")
def _has_admin(ctx: TenantContext, member: str, f: IamMemberFacts) -> bool | None:
    if f["admin_roles"]:
        return True
    return None if f["conditional_admin_roles"] else False


# -- changes since the last complete audit that read the IAM policy -------------------------------
@hidden("_previous")
def _previous(ctx: TenantContext, member: str, f: IamMemberFacts) -> tuple[Grant, ...]:
    return ctx.access.previous_grants.get(member, ())


@fact("has_previous_audit", "bool", "The last complete audit of the tenant read the IAM policy.")
def _has_previous(ctx: TenantContext, member: str, f: IamMemberFacts) -> bool:
    return ctx.access.has_previous_iam


@fact("is_new_member", "bool", "The last complete audit read the IAM policy and this member was "
      "not in it (false without such an audit).")
def _is_new(ctx: TenantContext, member: str, f: IamMemberFacts) -> bool:
    return ctx.access.has_previous_iam and member not in ctx.access.previous_grants


@fact("roles_before", "list[str]", "The roles the member held at the last complete audit (none "
      "when it was not in the policy then).", nullable=True,
      unknown_reason="no earlier complete audit read the IAM policy")
def _roles_before(ctx: TenantContext, member: str, f: IamMemberFacts) -> list[str] | None:
    if not ctx.access.has_previous_iam:
        return None
    return _unique([g.role for g in f["_previous"]])


@hidden("_admin_changes")
def _admin_changes(ctx: TenantContext, member: str, f: IamMemberFacts) -> list[tuple[str, str]]:
    if not ctx.access.has_previous_iam:
        return []
    before = f["_previous"]
    had = {g.role.casefold() for g in before}
    had_plain = {g.role.casefold() for g in before if g.condition is None}
    out: list[tuple[str, str]] = []
    for role in f["admin_roles"]:
        if role.casefold() not in had:
            out.append((role, role))
        elif role.casefold() not in had_plain:
            out.append((role, f"{role} (its condition was removed)"))
    for role in f["conditional_admin_roles"]:
        if role.casefold() not in had:
            titles = [c.get("title") or c.get("expression")
                      for c in f["admin_role_conditions"].get(role, [])]
            out.append((role, f"{role} (with a condition: {'; '.join(map(str, titles))})"))
    return out


@fact("gained_admin_roles", "list[str]", "Roles named in `admin_iam_roles` that the member holds "
      "now (with or without a condition) and did not hold at the last complete audit, or now "
      "holds unconditionally where a condition limited it then.")
def _gained(ctx: TenantContext, member: str, f: IamMemberFacts) -> list[str]:
    return [role for role, _ in f["_admin_changes"]]


@fact("role_changes", "list[str]", "The administrative roles gained, in words (e.g. "
      "`roles/owner`, `roles/editor (with a condition: until-2027)`).")
def _role_changes(ctx: TenantContext, member: str, f: IamMemberFacts) -> list[str]:
    return [words for _, words in f["_admin_changes"]]


__all__ = ["MEMBER_TYPES", "IamMemberFacts", "condition_dict", "member_type"]
