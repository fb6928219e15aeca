"""Document validation with the same rules as event-model's schemas, checked faster.

bluesky checks every document it composes against event-model's JSON schemas. Two
constructs in those schemas cost far more than what they check:

- ``"items": {}`` accepts any item, yet the validator descends into every item of
  every array it applies to: each value of each row of an event page;
- ``"unevaluatedProperties": false`` with the properties split between the root and
  an ``allOf`` of ``$ref``s makes the validator resolve the references and walk the
  document again to learn which properties were evaluated.

A plate's rows are one event page per field of view; checking one page of 6 frames
took 2.8 ms (about 0.5 ms per image, a fifth of the RunEngine's time per image in a
burst). :func:`lean_schema` rewrites a schema without these constructs, into one that
accepts exactly the same documents: no ``items: {}``; and the ``allOf`` parts merged
into the root, whose unevaluated properties are then its additional ones. A schema
whose shape does not allow that rewrite is left as it is. :func:`use_lean_validators`
puts validators of the rewritten schemas in event-model's table, where bluesky finds
them.
"""

from __future__ import annotations

from typing import Any

from event_model import DocumentNames, schema_validators, schemas

__all__ = ["lean_schema", "lean_validator", "use_lean_validators"]

#: Keywords an ``allOf`` part may have to be merged into its parent.
_MERGEABLE = frozenset({"title", "description", "type", "properties", "required"})
_LOCAL_DEFS = "#/$defs/"


def lean_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """A schema accepting the same documents as ``schema``, cheaper to check."""
    return _merged_all_of(_without_empty_items(schema))


def lean_validator(name: DocumentNames) -> Any:
    """A validator of a document type's lean schema, of event-model's validator class."""
    return type(schema_validators[name])(lean_schema(schemas[name]))


def use_lean_validators() -> None:
    """Validate documents with the lean schemas from now on, in this process.

    Idempotent; every document type keeps its rules.
    """
    for name in DocumentNames:
        if name not in schemas:
            continue
        lean = lean_schema(schemas[name])
        if lean != schemas[name] and schema_validators[name].schema != lean:
            schema_validators[name] = type(schema_validators[name])(lean)


def _without_empty_items(node: Any) -> Any:
    """``node`` without ``"items": {}`` anywhere (it accepts every item)."""
    if isinstance(node, dict):
        return {
            key: _without_empty_items(value)
            for key, value in node.items()
            if not (key == "items" and value == {})
        }
    if isinstance(node, list):
        return [_without_empty_items(value) for value in node]
    return node


def _merged_all_of(schema: dict[str, Any]) -> dict[str, Any]:
    """The root's ``allOf`` of local references merged into the root, where equivalent.

    With every property named in the root's ``properties`` and no other keyword that
    evaluates properties, the root's unevaluated properties are its additional ones.
    """
    all_of = schema.get("allOf")
    if (
        schema.get("unevaluatedProperties") is not False
        or not isinstance(all_of, list)
        or not all_of
        or not {"patternProperties", "additionalProperties"}.isdisjoint(schema)
    ):
        return schema
    defs: dict[str, Any] = schema.get("$defs", {})
    properties: dict[str, Any] = dict(schema.get("properties", {}))
    required: list[str] = list(schema.get("required", []))
    for part in all_of:
        target = part.get("$ref", "") if isinstance(part, dict) and set(part) == {"$ref"} else ""
        local = target.startswith(_LOCAL_DEFS)
        found = defs.get(target.removeprefix(_LOCAL_DEFS)) if local else None
        if (
            not isinstance(found, dict)
            or not set(found) <= _MERGEABLE
            or found.get("type") != schema.get("type")
            or not properties.keys().isdisjoint(found.get("properties", {}))
        ):
            return schema
        properties |= found.get("properties", {})
        required += [key for key in found.get("required", []) if key not in required]
    merged = {
        key: value for key, value in schema.items() if key not in {"allOf", "unevaluatedProperties"}
    }
    merged |= {"properties": properties, "required": required, "additionalProperties": False}
    return merged
