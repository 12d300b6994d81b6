"""The one YAML loader of the auditor: every file it reads (configuration, exceptions, rule files,
simulator scenarios and captures) goes through here.

Files are hostile too. What this loader refuses, each time with the 1-based line where it can:

- bytes that are not UTF-8 (the byte offset is named), and files larger than a cap;
- a duplicate key in a mapping (plain PyYAML silently keeps the last one); the keys a merge
  (``<<: *defaults``) brings in may be overridden, which is what merges are for;
- aliases that expand to more than :data:`MAX_ALIAS_NODES` nodes beyond the file's own (a
  "billion laughs" bomb is one short line): the expanded size is computed on the composed node
  graph, memoized per node, before anything is constructed, so the check itself stays linear;
  an alias that contains itself; nesting deeper than :data:`MAX_DEPTH`;
- values that cannot be what their form says: ``2027-02-30`` is ``not a valid date``, an integer
  too long to convert, an explicit tag on a value it cannot hold;
- anything but the safe tags (PyYAML's SafeLoader).

Mappings and lists remember where each key and item stood (:class:`LDict`, :class:`LList`), so
that an error found after parsing (by pydantic or the rule compiler) can still name ``file:line``.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

MAX_ALIAS_NODES = 10_000  # nodes that aliases may add to a document, beyond its own
MAX_DEPTH = 64  # nesting of mappings and lists
MIB = 1024 * 1024
MAX_BYTES = 4 * MIB  # configuration, exceptions, rule files (scenarios: their own cap)
_MERGE_TAG = "tag:yaml.org,2002:merge"
_TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"
_BOM = b"\xef\xbb\xbf"


class YamlError(Exception):
    """A YAML file that cannot be used: ``message`` says why, ``line`` (1-based) where, and
    ``path`` (keys and list indexes) which value, when known."""

    def __init__(self, message: str, line: int | None, path: tuple[Any, ...] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.path = path

    @property
    def field(self) -> str:
        """The dotted path of the value (``tenants[0].url``), or ``""``."""
        return dotted(self.path)

    @property
    def text(self) -> str:
        """``field: message`` (just the message when no value is named)."""
        return f"{self.field}: {self.message}" if self.path else self.message

    def where(self, source: str) -> str:
        """The one line to show: ``source:line: field: message``."""
        at = f"{source}:{self.line}" if self.line else source
        return f"{at}: {self.text}"

    def __str__(self) -> str:
        return self.text


def dotted(path: Iterable[Any]) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


class LDict(dict[Any, Any]):
    """A mapping from a YAML file; ``line`` is where it starts, ``key_lines`` where each key is."""

    line: int
    key_lines: dict[Any, int]


class LList(list[Any]):
    """A list from a YAML file; ``line`` is where it starts, ``item_lines`` where each item is."""

    line: int
    item_lines: list[int]


# -- bytes -> text --------------------------------------------------------------------------------
def decode(data: bytes) -> str:
    """UTF-8 text (a leading byte order mark is dropped); YamlError naming the byte offset."""
    if data.startswith(_BOM):
        data = data[len(_BOM):]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise YamlError(
            f"not UTF-8 text: byte 0x{data[exc.start]:02x} at byte offset {exc.start} cannot be "
            "decoded (save the file as UTF-8)", line,
        ) from None


def read_text(path: str | Path, max_bytes: int = MAX_BYTES) -> str:
    """The file's text; OSError when it cannot be read, YamlError when it is too large or not
    UTF-8."""
    with open(path, "rb") as handle:
        data = handle.read(max_bytes + 1)
    if len(data) > max_bytes:
        cap = f"{max_bytes / MIB:g} MiB" if max_bytes >= MIB else f"{max_bytes:,} bytes"
        raise YamlError(f"the file is larger than {cap}; refused", None)
    return decode(data)


# -- the loader -----------------------------------------------------------------------------------
class _Loader(yaml.SafeLoader):
    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep)
        except (YamlError, yaml.YAMLError):
            raise
        except (ValueError, TypeError, AttributeError, OverflowError, IndexError, KeyError) as exc:
            raise _bad_value(node, exc) from None


def _bad_value(node: yaml.Node, exc: Exception) -> YamlError:
    line = node.start_mark.line + 1
    value = node.value if isinstance(node, yaml.ScalarNode) else None
    shown = "value" if value is None else repr(value if len(value) <= 60 else value[:57] + "...")
    if node.tag == _TIMESTAMP_TAG:
        what = "date" if value is not None and len(value.strip()) <= 10 else "date and time"
        return YamlError(f"{shown} is not a valid {what}", line)
    tag = node.tag.rsplit(":", 1)[-1]
    reason = str(exc).splitlines()[0][:80] if str(exc) else type(exc).__name__
    return YamlError(f"{shown} cannot be read as {tag} ({reason})", line)


def _mapping(loader: _Loader, node: yaml.MappingNode) -> LDict:
    out = LDict()
    out.line = node.start_mark.line + 1
    out.key_lines = {}
    own: dict[Any, int] = {}  # the mapping's own keys: a duplicate among them is an error
    for key_node, _value in node.value:
        if key_node.tag == _MERGE_TAG:
            continue
        key = loader.construct_object(key_node, deep=True)
        line = key_node.start_mark.line + 1
        try:
            duplicate = key in own
        except TypeError:
            raise YamlError("a mapping key must be a plain value", line) from None
        if duplicate:
            raise YamlError(f"duplicate key {key!r} (first at line {own[key]})", line)
        own[key] = line
    loader.flatten_mapping(node)  # merged keys first, the mapping's own last: they win
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        try:
            value = loader.construct_object(value_node, deep=True)
        except YamlError as exc:
            exc.path = (key, *exc.path)
            raise
        try:
            out[key] = value
        except TypeError:
            raise YamlError("a mapping key must be a plain value",
                            key_node.start_mark.line + 1) from None
        out.key_lines[key] = own.get(key, key_node.start_mark.line + 1)
    return out


def _sequence(loader: _Loader, node: yaml.SequenceNode) -> LList:
    out = LList()
    for index, child in enumerate(node.value):
        try:
            out.append(loader.construct_object(child, deep=True))
        except YamlError as exc:
            exc.path = (index, *exc.path)
            raise
    out.line = node.start_mark.line + 1
    out.item_lines = [child.start_mark.line + 1 for child in node.value]
    return out


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _sequence)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def check_graph(root: yaml.Node, max_alias_nodes: int = MAX_ALIAS_NODES,
                max_depth: int = MAX_DEPTH) -> None:
    """Refuse a composed document whose aliases would expand it by more than
    ``max_alias_nodes`` nodes, that contains itself, or that nests deeper than ``max_depth``.

    Each distinct node is visited once (an iterative post-order walk; the expanded size and the
    depth of a node are memoized), so a bomb costs as little to check as it took to write."""
    size: dict[int, int] = {}
    depth: dict[int, int] = {}
    entered: set[int] = set()  # the nodes on the path from the root (a cycle returns to one)
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, finished = stack.pop()
        key = id(node)
        if finished:
            kids = _children(node)
            size[key] = 1 + sum(size[id(k)] for k in kids)
            depth[key] = 1 + max((depth[id(k)] for k in kids), default=0)
            entered.discard(key)
            if depth[key] > max_depth:
                raise YamlError(f"nested more than {max_depth} levels deep; refused",
                                node.start_mark.line + 1)
            continue
        if key in size:
            continue
        entered.add(key)
        stack.append((node, True))
        for kid in _children(node):
            if id(kid) in entered:
                raise YamlError("an alias refers to a value that contains it (a recursive "
                                "structure); refused", kid.start_mark.line + 1)
            if id(kid) not in size:
                stack.append((kid, False))
    if size[id(root)] - len(size) > max_alias_nodes:
        node = root
        while True:  # the smallest value that is too large: where the expansion happens
            kids = [k for k in _children(node) if size[id(k)] > max_alias_nodes]
            if not kids:
                break
            node = max(kids, key=lambda k: size[id(k)])
        raise YamlError(
            f"aliases expand this document by more than {max_alias_nodes:,} values (a YAML "
            "bomb?); refused: write the values out, or use fewer aliases",
            node.start_mark.line + 1,
        )


def _one_line(text: str) -> str:
    return " ".join(text.split())


def load(text: str, *, max_alias_nodes: int = MAX_ALIAS_NODES) -> Any:
    """Parse one YAML document (safe tags only); raise :class:`YamlError` with a line."""
    loader: _Loader | None = None
    try:
        loader = _Loader(text)
        node = loader.get_single_node()
        if node is None:
            return None
        check_graph(node, max_alias_nodes)
        return loader.construct_document(node)
    except YamlError:
        raise
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = _one_line(exc.problem or exc.context or "not valid YAML")
        raise YamlError(f"not valid YAML: {problem}", mark.line + 1 if mark else None) from None
    except yaml.reader.ReaderError as exc:
        at = text.count("\n", 0, max(0, exc.position)) + 1
        char = exc.character if isinstance(exc.character, int) else ord(exc.character[:1] or "?")
        raise YamlError(f"not valid YAML: the character #x{char:04x} is not allowed",
                        at) from None
    except yaml.YAMLError as exc:
        raise YamlError(f"not valid YAML: {_one_line(str(exc))}", None) from None
    except RecursionError:
        deep = loader.get_mark().line + 1 if loader is not None else None
        raise YamlError(f"nested more than {MAX_DEPTH} levels deep; refused", deep) from None
    finally:
        if loader is not None:
            loader.dispose()


def load_file(path: str | Path, max_bytes: int = MAX_BYTES) -> Any:
    """:func:`read_text` then :func:`load`."""
    return load(read_text(path, max_bytes))


def line_of(data: Any, loc: Iterable[Any]) -> int | None:
    """The line of the deepest node along ``loc`` (keys and list indexes) that has one."""
    line: int | None = getattr(data, "line", None)
    node = data
    for part in loc:
        if isinstance(node, LDict) and part in node:
            line = node.key_lines.get(part, line)
            node = node[part]
        elif isinstance(node, LList) and isinstance(part, int) and 0 <= part < len(node):
            line = node.item_lines[part]
            node = node[part]
        else:
            break
    return line


def plain(data: Any) -> Any:
    """The same data with plain dicts and lists (for dumping or JSON)."""
    if isinstance(data, dict):
        return {k: plain(v) for k, v in data.items()}
    if isinstance(data, list):
        return [plain(v) for v in data]
    return data
