"""What every settings section shares: loading from a mapping with type checks, validation, and the
one way to override values (`replace`).

A section is a dataclass whose fields have defaults. `validate()` raises SettingsError naming the
key (`train.preset: ...`); `replace(**changes)` returns a validated copy, ignoring changes that are
None (an option the user did not give), so CLI flags, fine-tuning and the demo override settings
the same way.
"""

from __future__ import annotations

import copy
import dataclasses
import types
import typing
from typing import Any, TypeVar

from symcorpus.errors import UsageError


class SettingsError(UsageError):
    """A params.yaml or override value that cannot be used; the message names the key."""


S = TypeVar("S", bound="Section")


class Section:
    """Base of every settings dataclass. `where` is the section's path in params.yaml."""

    where: typing.ClassVar[str] = "params"

    def validate(self) -> None:
        """Raise SettingsError for a value out of range (subclasses check their own fields)."""

    def check(self, ok: bool, key: str, message: str) -> None:
        """SettingsError('<where>.<key>: <message>') unless `ok`."""
        if not ok:
            raise SettingsError(f"{self.where}.{key}: {message}")

    def validate_all(self) -> None:
        """This section's checks, then its subsections'."""
        self.validate()
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            if isinstance(value, Section):
                value.validate_all()

    def replace(self: S, **changes: Any) -> S:
        """A validated copy with `changes` (values of None are ignored: options not given)."""
        given = {k: v for k, v in changes.items() if v is not None}
        names = {f.name for f in dataclasses.fields(self)}  # type: ignore[arg-type]
        unknown = sorted(set(given) - names)
        if unknown:
            raise SettingsError(f"{self.where}: unknown key(s) {', '.join(unknown)}")
        hints = typing.get_type_hints(type(self))
        for name, value in given.items():
            _check_type(value, hints[name], f"{self.where}.{name}")
        copy = dataclasses.replace(self, **given)  # type: ignore[type-var]
        copy.validate_all()
        return copy

    def to_dict(self) -> dict[str, Any]:
        """Plain values, subsections through their own to_dict (a section may mask a secret)."""
        return {f.name: (value.to_dict() if isinstance(value, Section) else copy.deepcopy(value))
                for f in dataclasses.fields(self)  # type: ignore[arg-type]
                for value in [getattr(self, f.name)]}


def _type_name(hint: Any) -> str:
    return getattr(hint, "__name__", None) or str(hint).replace("typing.", "")


def _check_type(value: Any, hint: Any, where: str) -> None:
    """SettingsError unless `value` fits `hint` (int, float, str, bool, list, dict, X | None)."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(hint)
        if value is None and type(None) in options:
            return
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                _check_type(value, option, where)
                return
            except SettingsError as e:
                errors.append(e)
        raise errors[0] if len(errors) == 1 else SettingsError(
            f"{where}: expected {_type_name(hint)}, got {value!r}")
    if hint is Any:
        return
    if origin is not None:
        hint = origin
    if hint is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    elif hint is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif isinstance(hint, type) and dataclasses.is_dataclass(hint):
        ok = isinstance(value, (dict, hint))
    else:
        ok = isinstance(value, hint)
    if not ok:
        raise SettingsError(f"{where}: expected {_type_name(hint)}, got {value!r}")


def _coerce(value: Any, hint: Any) -> Any:
    """YAML reads `1e-4` (no dot) as a string and `2.0` as a float: take them as the numbers meant."""
    plain = [h for h in (typing.get_args(hint) or (hint,)) if h is not type(None)]
    if isinstance(value, str) and float in plain and str not in plain:
        try:
            return float(value)
        except ValueError:
            return value
    if isinstance(value, float) and int in plain and float not in plain and value.is_integer():
        return int(value)
    return value


def from_mapping(cls: type[S], data: Any, where: str) -> S:
    """A section from a params.yaml mapping: unknown keys and wrong types are SettingsErrors;
    nested sections are read the same way; the result is not yet validated."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise SettingsError(f"{where}: expected a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - names)
    if unknown:
        raise SettingsError(f"{where}: unknown key(s) {', '.join(unknown)}")
    values = {}
    for name, value in data.items():
        hint = hints[name]
        key = name if where == "params" else f"{where}.{name}"
        if isinstance(hint, type) and issubclass(hint, Section):
            values[name] = from_mapping(hint, value, key)
        else:
            value = _coerce(value, hint)
            _check_type(value, hint, key)
            values[name] = value
    return cls(**values)
