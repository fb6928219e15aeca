"""A message's span attributes are made for a recording span only."""

from __future__ import annotations

from typing import Any

import bluesky.plan_stubs as bps
import bluesky.run_engine as bluesky_run_engine
import pytest
from bluesky import Msg
from ophyd_async.core import soft_signal_rw

from hcs_orchestrator import message_tracing
from hcs_orchestrator.message_tracing import trace_messages_only_when_recorded


class Span:
    """A span that records (or not) the attributes it is given."""

    def __init__(self, recording: bool) -> None:
        self.recording = recording
        self.attributes: dict[str, Any] = {}

    def is_recording(self) -> bool:
        return self.recording

    def set_attribute(self, key: str, value: Any) -> None:
        self.attributes[key] = value


class Watched:
    """A message's object that counts how often its ``repr`` is made."""

    def __init__(self) -> None:
        self.reprs = 0

    def __repr__(self) -> str:
        self.reprs += 1
        return "Watched()"


@pytest.fixture
def installed(monkeypatch: pytest.MonkeyPatch) -> Any:
    attribute = "_set_span_msg_attributes"
    monkeypatch.setattr(bluesky_run_engine, attribute, getattr(bluesky_run_engine, attribute))
    trace_messages_only_when_recorded()
    trace_messages_only_when_recorded()  # idempotent
    return getattr(bluesky_run_engine, attribute)


def test_a_recording_span_gets_the_message_s_attributes(installed: Any) -> None:
    obj, span = Watched(), Span(recording=True)
    installed(span, Msg("set", obj, 1.5, group="g"))
    assert span.attributes["msg.command"] == "set"
    assert span.attributes["msg.obj"] == "Watched()"
    assert span.attributes["msg.kwargs"] == '{"group": "g"}'
    assert obj.reprs == 1


def test_a_span_that_does_not_record_costs_no_attributes(installed: Any) -> None:
    obj, span = Watched(), Span(recording=False)
    installed(span, Msg("set", obj, 1.5, group="g"))
    assert span.attributes == {}
    assert obj.reprs == 0


def test_the_run_engine_makes_no_attributes_without_a_tracer_provider(
    installed: Any, RE: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[str] = []
    made: list[str] = []

    def counted(span: Any, msg: Msg) -> None:
        asked.append(msg.command)
        installed(span, msg)

    monkeypatch.setattr(bluesky_run_engine, "_set_span_msg_attributes", counted)
    monkeypatch.setattr(message_tracing, "_SET_ATTRIBUTES", lambda span, msg: made.append(msg))
    RE(bps.mv(soft_signal_rw(float, 0.0, name="signal"), 2.0))
    assert {"set", "wait"} <= set(asked)
    assert made == []
