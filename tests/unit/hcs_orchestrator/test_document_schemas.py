"""The lean, compiled document validators accept exactly what event-model's accept."""

from __future__ import annotations

import copy
import itertools
from collections.abc import Iterator
from typing import Any

import jsonschema
import numpy as np
import pytest
from event_model import (
    DocumentNames,
    compose_resource,
    compose_run,
    schema_validators,
    schemas,
)

from hcs_orchestrator.document_schemas import (
    CompiledValidator,
    as_draft7,
    compilable,
    lean_schema,
    lean_validator,
    use_lean_validators,
)

#: Values put in place of a document's fields and entries: every JSON type and more
#: (numpy values, which event-model's arrays and numbers accept, and integral floats).
ODD_VALUES: list[Any] = [
    *(None, 1, 1.5, 2.0, -2, "s", True, [], {}, [1], ["s"], [None], [[1]]),
    *({"k": 1}, {"k": [1]}, (1, 2), np.arange(2), np.int64(3), np.float64(0.5)),
]


def valid_documents() -> dict[DocumentNames, dict[str, Any]]:
    """One document of each type whose schema the lean rewrite changes, as bluesky makes them."""
    metadata = {"plan_name": "acquire_plate", "num_images": 2, "nested": {"a": [1]}}
    run = compose_run(metadata=metadata)
    bundle = run.compose_descriptor(
        name="frames",
        data_keys={
            "frame-well": {"source": "sim", "dtype": "string", "shape": []},
            "frame-z_um": {"source": "sim", "dtype": "number", "shape": [], "units": "um"},
        },
    )
    event = bundle.compose_event(
        data={"frame-well": "A1", "frame-z_um": 1.5},
        timestamps={"frame-well": 1.0, "frame-z_um": 1.0},
    )
    page = bundle.compose_event_page(
        data={"frame-well": ["A1", "A1"], "frame-z_um": [1.5, 2.5]},
        timestamps={"frame-well": [1.0, 2.0], "frame-z_um": [1.0, 2.0]},
    )
    resource = compose_resource(
        spec="TIFF",
        root="/data",
        resource_path="run/x",
        resource_kwargs={"template": "%d"},
        start=run.start_doc,
    )
    datum_page = resource.compose_datum_page(datum_kwargs={"index": [0, 1]})
    frames = run.compose_stream_resource(
        mimetype="multipart/related;type=image/tiff",
        uri="file://localhost/data/frames/x/",
        data_key="camera",
        parameters={"template": "{:06d}.tif"},
    )
    datum = frames.compose_stream_datum(
        indices={"start": 0, "stop": 2}, descriptor=bundle.descriptor_doc
    )
    return {
        DocumentNames.start: dict(run.start_doc),
        DocumentNames.descriptor: dict(bundle.descriptor_doc),
        DocumentNames.event: dict(event),
        DocumentNames.event_page: dict(page),
        DocumentNames.resource: dict(resource.resource_doc),
        DocumentNames.datum_page: dict(datum_page),
        DocumentNames.stream_resource: dict(frames.stream_resource_doc),
        DocumentNames.stream_datum: dict(datum),
        DocumentNames.stop: dict(run.compose_stop()),
    }


def variants(doc: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """``doc`` and documents a field or an entry away from it, valid or not."""
    yield doc
    yield doc | {"unexpected": 1}
    for key, value in doc.items():
        yield {k: v for k, v in doc.items() if k != key}
        for odd in ODD_VALUES:
            yield doc | {key: copy.deepcopy(odd)}
        if isinstance(value, dict):
            for odd in ODD_VALUES:
                yield doc | {key: value | {"added": copy.deepcopy(odd)}}
            for sub, odd in itertools.product(value, ODD_VALUES):
                yield doc | {key: value | {sub: copy.deepcopy(odd)}}
        if isinstance(value, list):
            for odd in ODD_VALUES:
                yield doc | {key: [*value, copy.deepcopy(odd)]}


@pytest.mark.parametrize("name", sorted(valid_documents(), key=str), ids=str)
def test_lean_validator_accepts_and_refuses_the_same_documents_as_event_model(
    name: DocumentNames,
) -> None:
    original, lean = schema_validators[name], lean_validator(name)
    documents = list(variants(valid_documents()[name]))
    verdicts = [(verdict(original, d), verdict(lean, d)) for d in documents]
    assert verdicts[0] == (True, True)
    assert all(o == n for o, n in verdicts), [i for i, (o, n) in enumerate(verdicts) if o != n]
    # Both kinds are exercised: the variants are not all valid or all invalid.
    assert {True, False} <= {o for o, _ in verdicts}
    # The compiled check alone never accepts a document event-model refuses.
    if isinstance(lean, CompiledValidator):
        for document, (valid, _) in zip(documents, verdicts, strict=True):
            assert valid is True or not lean._passes(document)  # pyright: ignore[reportPrivateUsage]


def verdict(validator: Any, document: dict[str, Any]) -> bool | str:
    """Whether ``validator`` accepts ``document``, or the error it fails with.

    (event-model takes anything with ``__array__`` for an array, numpy scalars too, and
    then fails on their length.)
    """
    try:
        return validator.is_valid(document)
    except TypeError as error:
        return type(error).__name__


def test_the_documents_of_every_field_are_checked_by_compiled_code() -> None:
    for name in DocumentNames:
        if name in schemas:
            assert isinstance(lean_validator(name), CompiledValidator), name
    # What draft 7 reads otherwise is said in its words, or not compiled.
    assert as_draft7({"$ref": "#/$defs/A", "additionalProperties": False}) == {
        "allOf": [{"$ref": "#/$defs/A"}],
        "additionalProperties": False,
    }
    assert as_draft7({"$ref": "#/$defs/A", "title": "a"}) == {"$ref": "#/$defs/A", "title": "a"}
    assert as_draft7({"prefixItems": [{"type": "string"}]}) == {"items": [{"type": "string"}]}
    assert not compilable({"type": "array", "items": [{"type": "string"}]})
    assert not compilable({"type": "array", "prefixItems": [{}], "items": {}})
    assert not compilable({"type": "object", "unevaluatedProperties": False})
    assert not compilable({"$ref": "other.json#/A"})
    assert compilable({"type": "array", "items": {"type": "string"}})
    with pytest.raises(ValueError, match="draft 7"):
        CompiledValidator({"type": "object", "dependentRequired": {}}, checked_by=None)


def test_a_document_the_compiled_check_refuses_gets_event_model_s_verdict_and_error() -> None:
    validator = lean_validator(DocumentNames.event_page)
    page = valid_documents()[DocumentNames.event_page]
    numpy_page = page | {"time": np.array([1.0, 2.0])}  # an array to event-model, not to JSON
    assert not validator._passes(numpy_page)  # pyright: ignore[reportPrivateUsage]
    validator.validate(numpy_page)
    with pytest.raises(jsonschema.ValidationError, match="'uid' is a required property"):
        validator.validate({k: v for k, v in page.items() if k != "uid"})


def test_lean_schema_drops_the_costly_constructs_of_the_event_page_schema() -> None:
    lean = lean_schema(schemas[DocumentNames.event_page])
    assert "allOf" not in lean
    assert "unevaluatedProperties" not in lean
    assert lean["additionalProperties"] is False
    assert "items" not in lean["properties"]["data"]["additionalProperties"]
    assert set(lean["required"]) == {"descriptor", "seq_num", "uid", "data", "time", "timestamps"}


def test_lean_schema_leaves_a_schema_it_cannot_rewrite_equivalently() -> None:
    patterned = {
        "type": "object",
        "allOf": [{"$ref": "#/$defs/Part"}],
        "$defs": {"Part": {"type": "object", "patternProperties": {"^x": {}}}},
        "unevaluatedProperties": False,
    }
    assert lean_schema(patterned) == patterned


def test_use_lean_validators_replaces_event_model_s_validators_and_bad_pages_still_fail(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in list(schema_validators):
        monkeypatch.setitem(schema_validators, name, schema_validators[name])
    use_lean_validators()
    use_lean_validators()  # idempotent
    validator = schema_validators[DocumentNames.event_page]
    assert isinstance(validator, CompiledValidator)
    assert validator.schema == lean_schema(schemas[DocumentNames.event_page])
    # Schemas the lean rewrite leaves as they are are compiled too.
    assert isinstance(schema_validators[DocumentNames.stream_datum], CompiledValidator)
    page = valid_documents()[DocumentNames.event_page]
    validator.validate(page)
    assert not validator.is_valid(page | {"data": {"frame-well": "A1"}})
