"""Untrusted pipeline configs: YAML read with duplicate keys refused, values limited to plain JSON-like
data (text, numbers, true/false, null, lists and mappings of them) of a sane expanded size, and
values quoted in messages as short excerpts. A config from someone else may cost a clear error,
never code execution (papermill writes unknown types into the parameters cell as raw text) or a
message the size of an alias bomb."""

from __future__ import annotations

import math
import reprlib
from typing import Any

MAX_NODES = 20_000
"""Values (every list item and mapping entry, aliases expanded) a config may hold: ours hold under 200."""
MAX_DEPTH = 12

_REPR = reprlib.Repr()
_REPR.maxstring, _REPR.maxother, _REPR.maxlist, _REPR.maxdict, _REPR.maxlevel = 60, 60, 6, 6, 3


def excerpt(value: Any) -> str:
    """`repr(value)` cut to about 80 characters, however large or deep (or self-referencing) the value."""
    text = _REPR.repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def load_strict(text: str) -> Any:
    """`yaml.safe_load` that refuses a mapping naming a key twice at any level (PyYAML keeps the last
    silently), naming both lines. Raises `yaml.YAMLError`."""
    import yaml

    class StrictLoader(yaml.SafeLoader):
        def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
            lines: dict[Any, int] = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue  # `<<: *base` then an override is YAML's own way to replace keys
                key = self.construct_object(key_node, deep=True)
                line = key_node.start_mark.line + 1
                try:
                    first = lines.setdefault(key, line)
                except TypeError:
                    continue  # an unhashable key: the base constructor names it
                if first != line:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"key {excerpt(key)} is given twice (lines {first} and {line}); keep one",
                        key_node.start_mark)
            return super().construct_mapping(node, deep)

    return yaml.load(text, Loader=StrictLoader)  # a SafeLoader subclass: safe


def size_problem(data: Any) -> str | None:
    """A problem if `data` expands (aliases followed) to more than MAX_NODES values or MAX_DEPTH levels;
    stops counting there, so a 500-byte alias bomb costs microseconds, not gigabytes."""
    count, stack = 0, [(data, 0)]
    while stack:
        value, depth = stack.pop()
        count += 1
        if count > MAX_NODES:
            return f"the config expands to more than {MAX_NODES} values (YAML aliases?): refused"
        if depth > MAX_DEPTH:
            return f"the config nests deeper than {MAX_DEPTH} levels: refused"
        if isinstance(value, dict):
            stack += [(item, depth + 1) for pair in value.items() for item in pair]
        elif isinstance(value, list | tuple | set):
            stack += [(item, depth + 1) for item in value]
    return None


def plain_problems(value: Any, where: str) -> list[str]:
    """Everything in `value` that is not plain JSON-like data, at any depth (YAML's !!pairs, !!omap,
    !!set, !!binary, !!timestamp give tuples, sets, bytes, dates), or a number that is not finite."""
    if value is None or isinstance(value, bool | int | str):
        return []
    if isinstance(value, float):
        return [] if math.isfinite(value) else [f"{where}: numbers must be finite, got {excerpt(value)}"]
    if isinstance(value, list):
        return [p for i, item in enumerate(value) for p in plain_problems(item, f"{where}[{i}]")]
    if isinstance(value, dict):
        found = []
        for key, item in value.items():
            if not isinstance(key, str):
                found.append(f"{where}: keys must be text, got {excerpt(key)}")
            found += plain_problems(item, f"{where}.{key}")
        return found
    return [f"{where}: only text, numbers, true/false, null, lists and mappings are allowed, "
            f"got {type(value).__name__} {excerpt(value)}"]
