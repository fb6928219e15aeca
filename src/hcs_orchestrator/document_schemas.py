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
whose shape does not allow that rewrite is left as it is.

Even lean, jsonschema walks a schema in Python for every document: an event page of a
field's rows still took 0.17 ms, a field's stream datum 0.05 ms, a run start 2.6 ms
(together about a tenth of the RunEngine's time per image). :class:`CompiledValidator`
puts a check of the lean schema, compiled to Python code by fastjsonschema, in front: a
document it accepts is valid; one it refuses is checked again by event-model's own
validator, whose verdict and error stand (numpy values, which event-model takes for
arrays and numbers, go that way). The compiled check is used only for schemas written entirely in
keywords that mean the same in fastjsonschema's draft 7 as in event-model's draft
2020-12, or that :func:`as_draft7` says in draft 7's words (:func:`compilable`), so it
never accepts a document event-model refuses.
:func:`use_lean_validators` puts these validators in event-model's table, where bluesky
finds them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import fastjsonschema
from event_model import DocumentNames, schema_validators, schemas

__all__ = [
    "CompiledValidator",
    "as_draft7",
    "compilable",
    "lean_schema",
    "lean_validator",
    "use_lean_validators",
]

#: Keywords an ``allOf`` part may have to be merged into its parent.
_MERGEABLE = frozenset({"title", "description", "type", "properties", "required"})
_LOCAL_DEFS = "#/$defs/"
#: Keywords that mean the same in draft 7 (fastjsonschema) as in draft 2020-12, or
#: annotate only: a schema of these alone is checked alike by both.
_PORTABLE = frozenset(
    {
        *("title", "description", "default", "type", "enum", "const", "pattern"),
        *("properties", "required", "additionalProperties", "patternProperties"),
        *("items", "minItems", "maxItems", "anyOf", "allOf", "$ref", "$defs"),
        # draft 7 has no prefixItems; as_draft7 makes it items in the tuple form
        "prefixItems",
    }
)
#: What may stand beside a ``$ref`` as it is (draft 7 ignores a reference's siblings).
_ANNOTATIONS = frozenset({"title", "description", "default"})


def lean_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """A schema accepting the same documents as ``schema``, cheaper to check."""
    return _merged_all_of(_without_empty_items(schema))


def lean_validator(name: DocumentNames) -> Any:
    """A validator of a document type's rules, checked fast.

    A :class:`CompiledValidator` of its lean schema where that schema compiles, else a
    jsonschema validator (event-model's class) of the lean schema.
    """
    original = schema_validators[name]
    if isinstance(original, CompiledValidator):
        original = original.checked_by
    lean = lean_schema(schemas[name])
    if compilable(lean):
        return CompiledValidator(lean, checked_by=type(original)(schemas[name]))
    return type(original)(lean)


def use_lean_validators() -> None:
    """Validate documents with the lean schemas, compiled where possible, in this process.

    Idempotent; every document type keeps its rules.
    """
    for name in DocumentNames:
        if name not in schemas or isinstance(schema_validators[name], CompiledValidator):
            continue
        lean = lean_schema(schemas[name])
        if compilable(lean) or schema_validators[name].schema != lean:
            schema_validators[name] = lean_validator(name)


class CompiledValidator:
    """A compiled check of a schema in front of the validator that has the last word.

    ``validate`` and ``is_valid`` give ``checked_by``'s verdict: a document the compiled
    check accepts is valid; any other is checked by ``checked_by``, whose error is the
    one raised. Other attributes are ``checked_by``'s.

    Args:
        schema: the schema compiled; see :func:`compilable`. It must accept no document
            ``checked_by`` refuses.
        checked_by: the validator whose verdict stands (event-model's, jsonschema).
    """

    def __init__(self, schema: dict[str, Any], *, checked_by: Any) -> None:
        if not compilable(schema):
            raise ValueError("schema uses keywords that draft 7 reads otherwise")
        self.schema = schema
        self.checked_by = checked_by
        self.compiled = fastjsonschema.compile(
            as_draft7(schema), use_default=False, use_formats=False
        )

    def _passes(self, doc: Any) -> bool:
        try:
            self.compiled(doc)
        except fastjsonschema.JsonSchemaException:
            return False
        return True

    def validate(self, doc: Any) -> None:
        """Raise ``jsonschema.ValidationError`` unless ``doc`` is valid."""
        if not self._passes(doc):
            self.checked_by.validate(doc)

    def is_valid(self, doc: Any) -> bool:
        """Whether ``doc`` is valid."""
        return self._passes(doc) or self.checked_by.is_valid(doc)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.checked_by, name)


def compilable(schema: dict[str, Any]) -> bool:
    """Whether every subschema uses only keywords that :func:`as_draft7` says alike."""
    return all(_portable(node) for node in _subschemas(schema))


def _portable(node: Any) -> bool:
    if isinstance(node, bool):
        return True
    if not isinstance(node, dict) or not set(node) <= _PORTABLE:
        return False
    if "$ref" in node and not str(node["$ref"]).startswith(_LOCAL_DEFS):
        return False
    if "prefixItems" in node and ("items" in node or not isinstance(node["prefixItems"], list)):
        return False
    items = node.get("items")
    return items is None or isinstance(items, dict | bool)


def as_draft7(node: Any) -> Any:
    """A draft 2020-12 schema (see :func:`compilable`) in draft 7's words.

    A reference with other keywords beside it becomes an ``allOf`` of the reference and
    those keywords (draft 7 ignores a reference's siblings; 2020-12 applies them), and
    ``prefixItems`` becomes ``items`` in its tuple form.
    """
    if isinstance(node, list):
        return [as_draft7(value) for value in node]
    if not isinstance(node, dict):
        return node
    out = {key: as_draft7(value) for key, value in node.items()}
    if "prefixItems" in out:
        out["items"] = out.pop("prefixItems")
    if "$ref" in out and set(out) - {"$ref"} - _ANNOTATIONS:
        reference = {"$ref": out.pop("$ref")}
        out["allOf"] = [reference, *out.get("allOf", [])]
    return out


def _subschemas(node: Any) -> Iterator[Any]:
    """``node`` and every schema inside it."""
    yield node
    if not isinstance(node, dict):
        return
    for key in ("properties", "patternProperties", "$defs"):
        for child in node.get(key, {}).values():
            yield from _subschemas(child)
    for key in ("items", "additionalProperties"):
        if isinstance(node.get(key), dict):
            yield from _subschemas(node[key])
    for key in ("anyOf", "allOf", "prefixItems"):
        for child in node.get(key, []):
            yield from _subschemas(child)


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
