"""bluesky's tracing of messages, with their attributes worked out only for a span that records.

bluesky's RunEngine opens an OpenTelemetry span for each ``set``, ``wait``, ``collect``
and ``complete`` message and gives it the message's attributes: its arguments
sanitised, its keyword arguments as JSON, its object's ``repr``. Without a tracer
provider (hcs ships the OpenTelemetry API alone), every span is a non-recording one
and these attributes are thrown away once worked out: about 4 % of the RunEngine's
time per image in a plate run. :func:`trace_messages_only_when_recorded` makes bluesky
work them out for a recording span only; with a tracer provider configured (an
OpenTelemetry SDK), every span gets every attribute as before.
"""

from __future__ import annotations

from typing import Any

import bluesky.run_engine as _run_engine

__all__ = ["trace_messages_only_when_recorded"]

#: bluesky's own (it sets the attributes whether the span records or not).
_SET_ATTRIBUTES = _run_engine._set_span_msg_attributes  # pyright: ignore[reportPrivateUsage]


def _set_attributes_if_recording(span: Any, msg: Any) -> None:
    if span.is_recording():
        _SET_ATTRIBUTES(span, msg)


def trace_messages_only_when_recorded() -> None:
    """From now on, in this process, a message's span attributes are made only if recorded.

    Idempotent.
    """
    _run_engine._set_span_msg_attributes = _set_attributes_if_recording  # pyright: ignore[reportPrivateUsage]
