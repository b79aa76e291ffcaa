"""YAML with locations, read safely: the part of reading a spec that needs PyYAML.

Imported only when a spec file is read: the flags path never imports PyYAML.
"""

from __future__ import annotations

import gc
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import yaml

from ..errors import Loc, SpecError, problem, show
from ..model import LocDict, LocList

try:  # the C-accelerated loader when libyaml is there, the pure one otherwise
    from yaml import CSafeLoader as _SafeBase
except ImportError:  # pragma: no cover - depends on how PyYAML was built
    from yaml import SafeLoader as _SafeBase  # type: ignore[assignment]


class _Loader(_SafeBase):
    filename: str | None = None


class _LocatingLoader(_Loader):
    """Used only after a value failed to convert, to say where: the common path pays nothing."""

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        """PyYAML's own, with a value it cannot convert (`!!int abc`, 2001-02-30, an integer of
        5,000 digits, `!!map [1]`) reported as a located YAML error instead of a traceback."""
        try:
            return super().construct_object(node, deep)
        except yaml.YAMLError:
            raise
        except (ValueError, TypeError, KeyError, AttributeError, OverflowError) as exc:
            raise yaml.constructor.ConstructorError(
                None, None, f"cannot read the value {show(node.value) if isinstance(node.value, str) else ''}"
                f"as {node.tag.rsplit(':', 1)[-1]} ({str(exc)[:120]})", node.start_mark) from None


def _mark(loader: _Loader, node: yaml.Node) -> Loc:
    m = node.start_mark
    return Loc(loader.filename, m.line + 1, m.column + 1)


_MERGE = "tag:yaml.org,2002:merge"
_STR = "tag:yaml.org,2002:str"


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> LocDict:
    if not isinstance(node, yaml.MappingNode):
        raise yaml.constructor.ConstructorError(None, None, f"expected a mapping, found {node.id}",
                                                node.start_mark)
    # `<<: *anchor` merges: the mapping's own keys, remembered before flattening puts merged pairs first
    own = [k for k, _ in node.value if k.tag != _MERGE] if any(k.tag == _MERGE for k, _ in node.value) else None
    loader.flatten_mapping(node)
    out = LocDict()
    out.loc = _mark(loader, node)
    out.key_locs = key_locs = {}
    filename = loader.filename
    seen: set[Any] = set()
    for key_node, value_node in node.value:
        if key_node.tag == _STR and type(key_node) is yaml.ScalarNode:  # a plain key, as PyYAML would build it
            key = key_node.value
        else:
            key = loader.construct_object(key_node, deep=True)
            if not isinstance(key, (str, int, float, bool)) and key is not None:
                raise yaml.constructor.ConstructorError(
                    None, None, "a mapping key must be a plain value", key_node.start_mark
                )
        if own is None or key_node in own:
            if key in seen:  # written twice in the same mapping: the first would be silently lost
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            seen.add(key)
        out[key] = loader.construct_object(value_node, deep=True)  # a mapping's own key overrides a merged one
        mark = key_node.start_mark
        key_locs[key] = Loc(filename, mark.line + 1, mark.column + 1)
    return out


def _construct_sequence(loader: _Loader, node: yaml.SequenceNode) -> LocList:
    if not isinstance(node, yaml.SequenceNode):
        raise yaml.constructor.ConstructorError(None, None, f"expected a sequence, found {node.id}",
                                                node.start_mark)
    out = LocList(loader.construct_object(child, deep=True) for child in node.value)
    filename = loader.filename
    out.locs = [Loc(filename, child.start_mark.line + 1, child.start_mark.column + 1) for child in node.value]
    return out


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)


def _refuse_tag(loader: _Loader, tag_suffix: str, node: yaml.Node) -> Any:
    raise yaml.constructor.ConstructorError(
        None, None, f"the tag {node.tag!r} is not allowed in a model spec", node.start_mark
    )


_Loader.add_multi_constructor("", _refuse_tag)


MAX_DEPTH = 64  # nesting of YAML collections
_REF_IN_FLOW = re.compile(r"\[[^\]]*\w\[\d+\]")
MAX_EXPANDED = 2_000_000  # nodes once every alias is expanded (a "billion laughs" file has ~10**9)


def _check_graph(root: yaml.Node, name: str) -> None:
    """Refuse recursive aliases, alias bombs and absurd nesting before anything is constructed.

    One pass over the node graph (aliases are shared nodes): each node's expanded size is computed
    once and memoized, so this costs time linear in the file however large the expansion would be.
    """
    size: dict[int, int] = {}
    on_path: set[int] = set()
    stack: list[tuple[yaml.Node, int, bool]] = [(root, 1, False)]
    while stack:
        node, depth, done = stack.pop()
        key = id(node)
        if done:
            on_path.discard(key)
            children = _children(node)
            total = 1 + sum(size[id(c)] for c in children)
            if total > MAX_EXPANDED:
                raise SpecError([problem(_node_loc(node, name), None,
                                         f"YAML aliases expand to more than {MAX_EXPANDED:,} values; "
                                         "refusing (an alias bomb?)")])
            size[key] = total
            continue
        if key in size:
            continue
        if key in on_path:
            raise SpecError([problem(_node_loc(node, name), None,
                                     "invalid YAML: a recursive alias (an anchor that contains itself)")])
        if depth > MAX_DEPTH:
            raise SpecError([problem(_node_loc(node, name), None, f"YAML nested more than {MAX_DEPTH} levels deep")])
        on_path.add(key)
        stack.append((node, depth, True))
        stack.extend((child, depth + 1, False) for child in _children(node) if id(child) not in size)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    return []


def _node_loc(node: yaml.Node, name: str) -> Loc:
    return Loc(name, node.start_mark.line + 1, node.start_mark.column + 1)


PRESCAN_BYTES = 1024 * 1024


def _prescan(text: str, name: str) -> None:
    """For a large file, count its YAML events (streamed, no nodes kept) before composing any:
    a file of millions of tiny values is refused in bounded memory."""
    for events, _ in enumerate(yaml.parse(text, Loader=_SafeBase), 1):
        if events > MAX_EXPANDED:
            raise SpecError([problem(Loc(name), None, f"more than {MAX_EXPANDED:,} YAML values; not a model spec")])


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause Python's cycle collector while a document is composed and constructed.

    Reading a spec makes hundreds of thousands of nodes, dicts and lists that all stay alive until
    the end, so each collection traverses everything made so far and none frees anything: it
    doubled the time of reading a 10,000-layer spec. Reference counting still frees what is
    dropped; a collection runs as usual once the collector is resumed (mypy raises its thresholds
    for the same reason). The collector is left as it was found.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def parse_yaml(text: str, name: str) -> Any:
    with _collector_paused():
        return _parse_yaml(text, name)


def _parse_yaml(text: str, name: str) -> Any:
    loader = _Loader(text)
    loader.filename = name
    try:
        if len(text) > PRESCAN_BYTES:
            _prescan(text, name)
        node = loader.get_single_node()
        if node is None:
            return None
        if "&" in text:  # without anchors there are no aliases to expand (libyaml bounds the nesting)
            _check_graph(node, name)
        try:
            return loader.construct_document(node)
        except (ValueError, TypeError, KeyError, AttributeError, OverflowError):
            # a value PyYAML cannot convert (`!!int abc`, 2001-02-30): construct again, locating it
            locating = _LocatingLoader(text)
            locating.filename = name
            try:
                return locating.get_single_data()
            finally:
                locating.dispose()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        loc = Loc(name, mark.line + 1, mark.column + 1) if mark else Loc(name)
        what = str(exc.problem or exc.context)
        if "recursive" in what:
            what += " (an alias that contains itself)"
        lines = text.splitlines()
        if mark and "expected ','" in what and _REF_IN_FLOW.search(lines[mark.line] if mark.line < len(lines)
                                                                   else ""):
            what += ("; inside [ ], a reference such as encoder[1] needs quotes: ['encoder[1]', 'encoder[2]'] "
                     "(or write the list one item a line, - encoder[1])")
        raise SpecError([problem(loc, None, f"invalid YAML: {what}")]) from None
    except yaml.reader.ReaderError as exc:
        pos = exc.position
        line, column = text.count("\n", 0, pos) + 1, pos - text.rfind("\n", 0, pos)
        char = exc.character if isinstance(exc.character, str) else chr(exc.character)
        raise SpecError([problem(Loc(name, line, column), None,
                                 f"invalid YAML: the control character {char!r} is not allowed")]) from None
    except yaml.YAMLError as exc:
        raise SpecError([problem(Loc(name), None, f"invalid YAML: {str(exc).splitlines()[0][:200]}")]) from None
    except RecursionError:
        raise SpecError([problem(Loc(name), None, "YAML nested too deeply")]) from None
    finally:
        loader.dispose()
