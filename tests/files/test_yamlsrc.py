"""The one YAML loader (auditor/yamlsrc.py): what it refuses, where it says so, and that the
refusals cost nothing (a bomb is checked on the composed graph, never expanded)."""

from __future__ import annotations

import time
from datetime import date
from pathlib import Path

import pytest

from auditor import yamlsrc
from auditor.yamlsrc import YamlError

# Nine laughs per level, nine levels: 9**9 (387 million) strings once expanded. One short line.
BOMB = ('a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
        + "".join(f"{n}: &{n} [{', '.join(['*' + p] * 9)}]\n"
                  for p, n in zip("abcdefgh", "bcdefghi", strict=True)))
ONE_LINE_BOMB = ("x: &a [&b [&c [&d [&e [&f [1,1,1,1,1,1,1,1,1,1],*f,*f,*f,*f,*f,*f,*f,*f,*f],"
                 "*e,*e,*e,*e,*e,*e,*e,*e,*e],*d,*d,*d,*d,*d,*d,*d,*d,*d],*c,*c,*c,*c,*c,*c,*c,"
                 "*c,*c],*b,*b,*b,*b,*b,*b,*b,*b,*b]")


def refused(text: str) -> YamlError:
    with pytest.raises(YamlError) as caught:
        yamlsrc.load(text)
    return caught.value


def test_a_duplicate_key_names_both_lines() -> None:
    text = "tenants: []\nrules: {}\nstate: a\nreports: {}\nslack: null\nschedule: {}\nstate: b\n"
    assert refused(text).where("auditor.yaml") == (
        "auditor.yaml:7: duplicate key 'state' (first at line 3)")


def test_a_nested_duplicate_names_where_it_is() -> None:
    text = "tenants:\n  - name: a\n    url: x\n    url: y\n"
    err = refused(text)
    assert err.where("auditor.yaml") == (
        "auditor.yaml:4: tenants[0]: duplicate key 'url' (first at line 3)")


def test_a_small_merge_stays_allowed_and_may_override() -> None:
    text = ("defaults: &defaults {timeout_seconds: 5, max_pages: 10}\n"
            "tenant:\n  <<: *defaults\n  max_pages: 20\n")
    data = yamlsrc.load(text)
    assert data["tenant"] == {"timeout_seconds": 5, "max_pages": 20}
    assert data["tenant"].key_lines["max_pages"] == 4
    # ... but the mapping's own keys still may not repeat
    assert "duplicate key 'max_pages'" in refused(text + "  max_pages: 30\n").message


@pytest.mark.parametrize("text", [BOMB, ONE_LINE_BOMB], ids=["billion-laughs", "one-line"])
def test_an_alias_bomb_is_refused_at_once(text: str) -> None:
    started = time.perf_counter()
    err = refused(text)
    assert time.perf_counter() - started < 1.0
    assert "aliases expand this document by more than 10,000 values" in err.message
    assert err.line is not None


def test_aliases_within_the_bound_are_fine() -> None:
    text = "base: &b [1, 2, 3]\n" + "".join(f"k{i}: *b\n" for i in range(100))
    assert yamlsrc.load(text)["k99"] == [1, 2, 3]


def test_a_recursive_alias_and_deep_nesting_are_refused() -> None:
    assert "recursive structure" in refused("x: &x [*x]\n").message
    assert "nested more than 64 levels" in refused("x: " + "[" * 70 + "]" * 70).message
    started = time.perf_counter()
    assert "nested more than 64 levels" in refused("[" * 200_000).message  # no RecursionError
    assert time.perf_counter() - started < 5


@pytest.mark.parametrize(("value", "expected"), [
    ("2027-02-30", "'2027-02-30' is not a valid date"),
    ("2027-13-01", "'2027-13-01' is not a valid date"),
    ("2027-01-01 25:00:00", "'2027-01-01 25:00:00' is not a valid date and time"),
    ("!!timestamp soon", "'soon' is not a valid date"),
])
def test_an_impossible_date_is_named_with_its_line_and_field(value: str, expected: str) -> None:
    err = refused(f"- rule: X\n  owner: me\n- rule: Y\n  expires: {value}\n")
    assert err.line == 4 and err.path == (1, "expires")
    assert err.message == expected
    assert yamlsrc.load("expires: 2028-02-29\n") == {"expires": date(2028, 2, 29)}


def test_other_values_that_cannot_be_what_they_say() -> None:
    assert "cannot be read as int" in refused("n: " + "1" * 5000 + "\n").message
    assert "cannot be read as int" in refused("n: !!int many\n").message
    assert "could not determine a constructor" in refused("x: !!python/object:os.system ls\n"
                                                          ).message
    assert refused("a: 1\nb: \x00\n").where("f.yaml") == (
        "f.yaml:2: not valid YAML: the character #x0000 is not allowed")
    assert "a mapping key must be a plain value" in refused("{[1]: 2}\n").message


def test_bytes_that_are_not_utf8_name_the_offset(tmp_path: Path) -> None:
    bad = tmp_path / "latin1.yaml"
    bad.write_bytes("tenants:\n  - name: caf\u00e9\n".encode("latin-1"))
    with pytest.raises(YamlError) as caught:
        yamlsrc.read_text(bad)
    assert caught.value.where(str(bad)) == (
        f"{bad}:2: not UTF-8 text: byte 0xe9 at byte offset 22 cannot be decoded "
        "(save the file as UTF-8)")
    bom = tmp_path / "bom.yaml"
    bom.write_bytes(b"\xef\xbb\xbfa: 1\n")
    assert yamlsrc.load_file(bom) == {"a": 1}


def test_a_file_over_the_cap_is_not_read_whole(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    big.write_bytes(b"# " + b"x" * 2048 + b"\n")
    with pytest.raises(YamlError, match="larger than 1,024 bytes; refused"):
        yamlsrc.read_text(big, max_bytes=1024)


def test_lines_are_remembered_for_later_errors() -> None:
    data = yamlsrc.load("a:\n  b:\n    - x\n    - y: 1\n")
    assert yamlsrc.line_of(data, ("a", "b", 1, "y")) == 4
    assert yamlsrc.line_of(data, ("a", "missing")) == 1
    assert yamlsrc.plain(data) == {"a": {"b": ["x", {"y": 1}]}}
    assert type(yamlsrc.plain(data)["a"]) is dict
    assert yamlsrc.load("") is None


def test_the_engine_module_still_exports_the_loader() -> None:
    from auditor.engine import yamlsrc as shim

    assert shim.load is yamlsrc.load and shim.YamlError is YamlError


def test_no_other_module_parses_yaml_itself() -> None:
    """Every file the auditor reads goes through auditor/yamlsrc.py. capture.py re-reads the text
    it has just dumped itself (to check it is a valid scenario), never a file."""
    import re

    root = Path(__file__).parents[2] / "auditor"
    parse = re.compile(r"\byaml\.(safe_load|load|full_load|unsafe_load|compose|load_all|"
                       r"safe_load_all|compose_all|parse)\(")
    users = sorted(str(p.relative_to(root)) for p in root.rglob("*.py")
                   if parse.search(p.read_text(encoding="utf-8")))
    assert users == ["capture.py"]
