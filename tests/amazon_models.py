"""Amazon's Swagger models (pipelines/sandbox/models/) as self-contained JSON schemas: for jsonschema, to check
what the sandbox serves, and for hypothesis-jsonschema, to generate what Amazon may send."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import jsonschema

MODELS = Path(__file__).resolve().parents[1] / "pipelines" / "sandbox" / "models"
ORDERS = "orders_2026-01-01.json"
INVENTORY = "fbaInventory.json"


@cache
def model(name: str) -> dict:
    return json.loads((MODELS / name).read_text())


def schema(name: str, definition: str, *, minimal: bool = False, narrow: dict[str, dict] | None = None) -> dict:
    """The model's definition with every `$ref` put in its place (the models have no cycles) and Swagger's
    vendor extensions and examples left out. `minimal`: each object with only its required properties.
    `narrow`: for generating the realistic part of what the model allows, never more: each named definition
    or property merged with what it gives (a nested object merged the same way, None dropping a key)."""
    definitions = model(name)["definitions"]
    narrow = narrow or {}

    def resolve(node, path: tuple[str, ...]):
        if isinstance(node, list):
            return [resolve(item, path) for item in node]
        if not isinstance(node, dict):
            return node
        if "$ref" in node:
            target = node["$ref"].removeprefix("#/definitions/")
            if target in path:
                raise ValueError(f"{name}: {target} refers to itself; a schema with cycles cannot be inlined")
            return resolve(_merged(definitions[target], narrow.get(target)), (*path, target))
        resolved = {
            key: resolve(value, path)
            for key, value in node.items()
            if not key.startswith("x-") and key not in ("example", "examples", "description")
        }
        if "properties" in resolved:
            resolved["properties"] = {
                key: _merged(value, narrow.get(key)) for key, value in resolved["properties"].items()
            }
        if minimal and "properties" in resolved:
            required = set(resolved.get("required", []))
            resolved["properties"] = {key: value for key, value in resolved["properties"].items() if key in required}
            resolved["additionalProperties"] = False
        return resolved

    return resolve(_merged(definitions[definition], narrow.get(definition)), (definition,))


def _merged(node, narrowing):
    if not narrowing or not isinstance(node, dict):
        return node
    out = dict(node)
    for key, value in narrowing.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merged(out[key], value)
        else:
            out[key] = value
    return out


def for_generation(node, text_length: int = 8):
    """Instances of the schema quicker to generate (a case holds only so many choices): objects without
    properties the model does not name, each saying how many it can have (else hypothesis-jsonschema keeps
    drawing names it has used up, and gives the case up), and short free text."""
    if isinstance(node, list):
        return [for_generation(item, text_length) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: for_generation(value, text_length) for key, value in node.items()}
    if out.get("type") == "object" and "properties" in out:
        out["additionalProperties"] = False
        out["maxProperties"] = len(out["properties"])
    if out.get("type") == "string" and not {"enum", "pattern", "format"} & set(out):
        out.setdefault("maxLength", text_length)
    return out


def response_schema(name: str, path: str, status: str, method: str = "get") -> dict:
    """The schema the model gives an operation's answer with this HTTP status."""
    ref = model(name)["paths"][path][method]["responses"][status]["schema"]["$ref"]
    return schema(name, ref.removeprefix("#/definitions/"))


def problems(instance, against: dict) -> list[str]:
    """Where an instance breaks a schema (formats such as date-time included), one line each; none when it conforms."""
    validator = jsonschema.Draft4Validator(against, format_checker=jsonschema.FormatChecker())
    return sorted(
        f"{'/'.join(map(str, error.absolute_path)) or '(top)'}: {error.message[:200]}"
        for error in validator.iter_errors(instance)
    )
