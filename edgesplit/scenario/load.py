"""Loading scenario files: YAML text with `--set` overrides, validated, with errors that name file and line."""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from edgesplit.errors import UserError
from edgesplit.scenario.models import Scenario

MAX_DEPTH = 32
"""How deep mappings and lists may nest; a scenario needs five levels, and the YAML composer recurses per level."""


class _TooDeep(yaml.MarkedYAMLError):
    """A document nested beyond MAX_DEPTH (raised before the composer runs out of stack)."""


class _Loader(yaml.SafeLoader):
    """The safe loader, refusing documents nested more than MAX_DEPTH levels."""

    _depth = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                problem = f"nested more than {MAX_DEPTH} levels deep (a scenario needs a handful)"
                raise _TooDeep(problem=problem, problem_mark=self.peek_event().start_mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _load_yaml(text: str) -> tuple[yaml.Node | None, Any]:
    """The document's node tree (for line numbers) and its data, parsed once (yaml.safe_load does the same)."""
    loader = _Loader(text)
    try:
        root = loader.get_single_node()
        return root, loader.construct_document(root) if root is not None else None
    finally:
        loader.dispose()


def _parse_value(text: str) -> Any:
    """A `--set` value is read as YAML, so `3`, `true`, `[1, 2]` and `10 MHz` all mean what they look like."""
    try:
        return _load_yaml(text)[1] if text != "" else ""
    except yaml.YAMLError:
        return text


def apply_override(data: dict[str, Any], assignment: str) -> str:
    """Apply `a.b.c=value` (the value read as YAML) to nested dicts/lists in place; returns the dotted path."""
    if "=" not in assignment:
        raise UserError(f"--set expects key.path=value, got {assignment!r}")
    path, _, raw = assignment.partition("=")
    return set_path(data, path, _parse_value(raw), f"--set {path}")


def set_path(data: dict[str, Any], path: str, value: Any, label: str | None = None) -> str:
    """Set the field at dotted `path` (list items by index) of nested dicts/lists to `value`, creating missing
    mappings on the way; returns the dotted path. `label` names the override in errors."""
    keys = [k for k in path.strip().split(".") if k]
    label = label or f"override {path}"
    if not keys:
        raise UserError(f"{label}: expects key.path=value")
    node: Any = data
    for i, key in enumerate(keys):
        last = i == len(keys) - 1
        if isinstance(node, list):
            if not key.isdigit() or int(key) >= len(node):
                raise UserError(f"{label}: {'.'.join(keys[:i]) or 'top'} is a list; {key!r} is not an index in it")
            key_or_index: Any = int(key)
        elif isinstance(node, dict):
            key_or_index = key
        else:
            raise UserError(f"{label}: {'.'.join(keys[:i])} is not a mapping")
        if last:
            node[key_or_index] = value
        else:
            if isinstance(node, dict) and (key not in node or node[key] is None):
                node[key] = {}
            node = node[key_or_index]
    return ".".join(keys)


def _line_of(node: yaml.Node | None, loc: tuple[Any, ...]) -> tuple[int | None, bool]:
    """1-based line of the deepest YAML node along `loc`; the flag says whether the whole path was found."""
    line = node.start_mark.line + 1 if node is not None else None
    for part in loc:
        child = None
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                if k.value == str(part):
                    child = v
                    line = k.start_mark.line + 1
                    break
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            child = node.value[part]
            line = child.start_mark.line + 1
        if child is None:
            return line, False
        node = child
    return line, True


def _format_errors(err: ValidationError, source: str, root: yaml.Node | None, overridden: set[str]) -> str:
    lines = []
    for e in err.errors():
        loc = tuple(p for p in e["loc"] if not (isinstance(p, str) and p.startswith("function-after")))
        dotted = ".".join(str(p) for p in loc) or "(top level)"
        line, _found = _line_of(root, loc)
        override = next((o for o in overridden if dotted == o or dotted.startswith(o + ".")), None)
        where = f"--set {override}" if override else (f"{source}:{line}" if line else source)
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            msg = "unknown key (check its spelling and level)"
        elif e["type"] == "missing":
            msg = "required field is missing"
        got = e.get("input")
        quoted = f"got {got!r}" in msg or (isinstance(got, str) and repr(got) in msg)  # the message shows it
        quiet = e["type"] in ("missing", "extra_forbidden") or isinstance(got, dict | list) or quoted
        shown = "" if quiet else f" (got {got!r})"
        lines.append(f"{where}: {dotted}: {msg}{shown}")
    return "\n".join(lines)


def _read_text(path: Path) -> str:
    """The file's text; a UserError naming the file when it is missing, unreadable or not UTF-8 text."""
    try:
        if path.is_dir():
            raise UserError("is a directory, not a scenario file", str(path))
        if not path.is_file():  # also keeps devices and pipes (/dev/zero) from being read
            raise UserError(f"scenario file {str(path)!r} does not exist")
        raw = path.read_bytes()
    except OSError as err:  # e.g. a name too long, no permission
        raise UserError(f"cannot read it: {err.strerror or err}", str(path)) from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise UserError(
            f"not a UTF-8 text file (byte 0x{raw[err.start]:02x} at offset {err.start}); a scenario is YAML text",
            str(path),
        ) from None


def _parse_file(text: str, path: Path) -> tuple[yaml.Node | None, Any]:
    try:
        return _load_yaml(text)
    except yaml.reader.ReaderError as exc:  # a control character: binary data, not text
        raise UserError(
            f"not a text file (control character U+{exc.character:04X} at character {exc.position})", str(path)
        ) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise UserError(f"not valid YAML: {getattr(exc, 'problem', exc)}", where) from None


def resolve_policy_file(data: dict[str, Any], base: Path) -> None:
    """A custom policy's `class: file.py:Class` with a relative path is relative to the scenario file's folder."""
    policy = data.get("policy")
    ref = policy.get("class") if isinstance(policy, dict) else None
    if isinstance(ref, str) and ".py:" in ref:
        target, _, name = ref.rpartition(":")
        if not Path(target).is_absolute():
            policy["class"] = f"{(base / target).resolve()}:{name}"


Overrides = Sequence[str] | Mapping[str, Any] | None
"""`--set` strings ("dotted.path=value", the value read as YAML) or a {dotted.path: value} mapping."""


def _apply_overrides(data: dict[str, Any], overrides: Overrides) -> set[str]:
    if isinstance(overrides, Mapping):
        return {set_path(data, k, v) for k, v in overrides.items()}
    return {apply_override(data, o) for o in overrides or []}


def load_scenario(path: str | Path, overrides: Overrides = None) -> Scenario:
    """Read, override and validate a scenario file; every user mistake becomes a UserError naming file and line."""
    path = Path(path)
    root, data = _parse_file(_read_text(path), path)
    if not isinstance(data, dict):
        raise UserError("a scenario must be a YAML mapping (fleet:, network:, workload:, ...)", str(path))
    return _validate(data, path.parent, str(path), root, _apply_overrides(data, overrides))


def scenario_from_dict(data: dict[str, Any], overrides: Overrides = None, base: Path | None = None) -> Scenario:
    """Validate a scenario given as a mapping (not changed), with `overrides` applied; relative file paths in it
    are relative to `base` (default: the working directory)."""
    if not isinstance(data, dict):
        raise UserError("a scenario must be a mapping (fleet:, network:, workload:, ...)")
    data = copy.deepcopy(data)
    return _validate(data, base or Path.cwd(), "<scenario dict>", None, _apply_overrides(data, overrides))


def _validate(data: dict[str, Any], base: Path, source: str, root: yaml.Node | None, overridden: set[str]) -> Scenario:
    resolve_policy_file(data, base)
    try:
        return Scenario.model_validate(data)
    except ValidationError as err:
        raise UserError(_format_errors(err, source, root, overridden)) from None
