"""The 18-tool registry, shipped inside the package, and argument validation against it."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator, validators

REGISTRY_RESOURCE = "tool_registry.json"
FAMILIES = ("canvas", "calendar", "study", "reranker")


@dataclass(frozen=True)
class ArgumentIssue:
    """One reason a call's arguments do not fit the tool's schema."""

    tool: str
    kind: str  # unknown_tool | missing_required | unknown_key | wrong_type | bad_enum | invalid
    path: str
    message: str


@dataclass(frozen=True)
class ToolSpec:
    name: str
    description: str
    parameters: Mapping[str, Any]

    @property
    def family(self) -> str:
        return self.name.split(".", 1)[0]

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(self.parameters.get("required", ()))

    @property
    def properties(self) -> Mapping[str, Any]:
        return self.parameters.get("properties", {})


def _closed_schema(schema: Mapping[str, Any]) -> dict[str, Any]:
    """The schema with `additionalProperties: false` on every object, so invented keys are errors."""
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "properties":
            out[key] = {name: _closed_schema(sub) for name, sub in value.items()}
        elif key == "items" and isinstance(value, Mapping):
            out[key] = _closed_schema(value)
        else:
            out[key] = value
    if schema.get("type") == "object" and "properties" in schema:
        out.setdefault("additionalProperties", False)
    return out


def _is_strict_integer(_checker: object, instance: object) -> bool:
    return isinstance(instance, int) and not isinstance(instance, bool)


# JSON Schema counts 4264.0 as an integer; a tool call must carry the integer itself.
StrictValidator = validators.extend(
    Draft202012Validator,
    type_checker=Draft202012Validator.TYPE_CHECKER.redefine("integer", _is_strict_integer),
)

_KIND_BY_VALIDATOR = {
    "required": "missing_required",
    "additionalProperties": "unknown_key",
    "type": "wrong_type",
    "enum": "bad_enum",
}


class ToolRegistry:
    """The tools by name, with a jsonschema validator per tool."""

    def __init__(self, specs: list[ToolSpec], version: str = "") -> None:
        names = [s.name for s in specs]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"tool registry names are not unique: {dupes}")
        self.version = version
        self._specs = {s.name: s for s in specs}
        self._validators = {s.name: StrictValidator(_closed_schema(s.parameters)) for s in specs}

    def __contains__(self, name: object) -> bool:
        return name in self._specs

    def __iter__(self) -> Iterator[ToolSpec]:
        return iter(self._specs.values())

    def __len__(self) -> int:
        return len(self._specs)

    def __getitem__(self, name: str) -> ToolSpec:
        return self._specs[name]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._specs)

    def by_family(self, family: str) -> tuple[ToolSpec, ...]:
        return tuple(s for s in self if s.family == family)

    def validate_arguments(self, name: str, arguments: Mapping[str, Any]) -> list[ArgumentIssue]:
        """Every way `arguments` violate tool `name`'s schema; empty when the call is valid."""
        if name not in self._specs:
            return [ArgumentIssue(name, "unknown_tool", "", f"{name!r} is not in the tool registry")]
        issues = []
        for err in sorted(self._validators[name].iter_errors(arguments), key=lambda e: list(e.path)):
            path = ".".join(str(p) for p in err.absolute_path)
            issues.append(ArgumentIssue(name, _KIND_BY_VALIDATOR.get(str(err.validator), "invalid"), path, err.message))
        return issues


def registry_from_json(payload: Mapping[str, Any]) -> ToolRegistry:
    specs = [
        ToolSpec(name=t["name"], description=t.get("description", ""), parameters=t["parameters"])
        for t in payload["tools"]
    ]
    for spec in specs:
        Draft202012Validator.check_schema(spec.parameters)
        if spec.family not in FAMILIES:
            raise ValueError(f"tool {spec.name!r} has unknown family {spec.family!r}")
    return ToolRegistry(specs, version=str(payload.get("version", "")))


@cache
def load_registry() -> ToolRegistry:
    """The registry shipped with the package (a copy of shared/spec/tool_registry.json)."""
    text = resources.files("canvas_pipeline.tools").joinpath(REGISTRY_RESOURCE).read_text("utf-8")
    return registry_from_json(json.loads(text))
