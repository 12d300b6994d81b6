"""rules/README.md stays true: every fact and operator is documented, the example rule loads."""

from __future__ import annotations

import json
import re
from pathlib import Path

from engine_factory import binding, days_ago, inventory, key, only, run

from auditor.engine.conditions import OPERATORS
from auditor.engine.facts import FACTS
from auditor.engine.rules import builtin_dir, load_rules

README = Path(str(builtin_dir())) / "README.md"


def test_every_fact_and_operator_is_documented() -> None:
    text = README.read_text(encoding="utf-8")
    documented = set(re.findall(r"^\| `([a-z_]+)` \|", text, re.MULTILINE))
    for resource, registry in FACTS.items():
        assert set(registry) <= documented, resource
    assert set(FACTS) == {"api_key", "tenant", "idp_mapping", "iam_member"}
    for field in ("severity_when", "surface", "also"):
        assert f"| `{field}` |" in text, field
    for op in OPERATORS:
        assert f"`{op}`" in text, op


def test_the_example_rule_loads_and_works(tmp_path: Path) -> None:
    text = README.read_text(encoding="utf-8")
    example = re.search(r"```yaml\n(id: ACME-KEY-001\n.*?)```", text, re.DOTALL)
    assert example is not None
    (tmp_path / "ACME-KEY-001.yaml").write_text(example.group(1), encoding="utf-8")
    rules = load_rules([tmp_path])
    inv = inventory(
        [key(1, "old-prod", envs=("Production",), created=days_ago(45)),
         key(2, "new-prod", envs=("Production",), created=days_ago(5)),
         key(3, "no-time", envs=("*",), created=None)],
        envs=["Production"],
    )
    found = only(run(inv, rules=rules), "ACME-KEY-001")
    assert found[1].status == "fail"
    assert found[1].message == "old-prod reaches Production and is 45 days old (limit: 30)."
    assert 2 not in found
    assert found[3].status == "unknown"


def test_the_documented_replacement_has_the_shape_of_the_real_one() -> None:
    text = README.read_text(encoding="utf-8")
    block = re.search(r"`replacement`, the evidence.*?```json\n(.*?)```", text, re.DOTALL)
    assert block is not None
    documented = json.loads(block.group(1))
    inv = inventory([key(1, "ci-bot", groups=(2, 3))],
                    bindings=[binding("projects/acme-secops/roles/SOAR_Custom_Tier1", "user:a")])
    real = only(run(inv), "SOAR-MIG-001")[1].evidence["replacement"]
    assert set(documented) == set(real)
    assert set(documented["mapping"]) == set(real["mapping"])
    assert [set(r) for r in documented["iam_roles"]] == [set(r) for r in real["iam_roles"]]
    assert real["iam_roles"][0]["role"] == documented["iam_roles"][0]["role"]
    assert real["identity"] == documented["identity"]
