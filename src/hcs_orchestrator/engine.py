"""The RunEngine of a microscope: the one control plane, and the owner of the hardware.

:class:`MicroscopeRunEngine` is a bluesky ``RunEngine`` that, while it executes a plan,
owns the microscope: device commands from anywhere else (another thread, an IPython
call on the same loop, another client) are refused with a ``busy`` error. Ownership is
lent back while the run is paused, so the operator can adjust things, and returned
when the run goes on. Whatever way a plan ends, the microscope is put in its safe state
(camera idle and its files closed, light off) before the engine reports the end.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Generator
from types import FrameType, TracebackType
from typing import Any

from bluesky import RunEngine
from bluesky.log import ComposableLogAdapter
from bluesky.utils import FailedStatus, Msg, SigintHandler

from hcs_devices.ownership import HardwareOwner
from hcs_orchestrator.document_schemas import use_lean_validators
from hcs_orchestrator.message_tracing import trace_messages_only_when_recorded

log = logging.getLogger(__name__)

#: A document callback slower than this is reported by name.
SLOW_CALLBACK_S = 0.020


class MessageTimer:
    """Time spent per message type, per run (installed as the RunEngine's ``msg_hook``).

    The time between two messages is charged to the first one: it covers processing
    that message and generating the next.
    """

    def __init__(self) -> None:
        self._last: tuple[str, float] | None = None
        self.current: dict[str, float] = defaultdict(float)
        self.counts: dict[str, int] = defaultdict(int)
        self.by_run: dict[str, dict[str, dict[str, float]]] = {}

    def __call__(self, msg: Msg, *args: Any) -> None:
        """Charge the time since the previous message to that message's command."""
        now = time.perf_counter()
        if self._last is not None:
            command, since = self._last
            self.current[command] += now - since
            self.counts[command] += 1
        self._last = (msg.command, now)

    def start_run(self) -> None:
        """Forget the previous run's figures."""
        self.current = defaultdict(float)
        self.counts = defaultdict(int)

    def end_run(self, uid: str) -> dict[str, dict[str, float]]:
        """Store and return this run's figures: seconds and count per message type."""
        summary = {
            command: {"seconds": self.current[command], "count": self.counts[command]}
            for command in sorted(self.current, key=self.current.__getitem__, reverse=True)
        }
        self.by_run[uid] = summary
        return summary


class SlowCallbacks:
    """Wraps document callbacks to time them and record the slow ones by name."""

    def __init__(self, threshold_s: float = SLOW_CALLBACK_S) -> None:
        self.threshold_s = threshold_s
        self.slow: list[tuple[str, str, float]] = []

    def wrap(
        self, callback: Callable[[str, dict[str, Any]], Any], name: str
    ) -> Callable[[str, dict[str, Any]], Any]:
        """A callback that times ``callback`` and records calls above the threshold."""

        def timed(doc_name: str, doc: dict[str, Any]) -> Any:
            start = time.perf_counter()
            try:
                return callback(doc_name, doc)
            finally:
                elapsed = time.perf_counter() - start
                if elapsed > self.threshold_s:
                    self.slow.append((name, doc_name, elapsed))
                    log.warning(
                        "document callback %r took %.1f ms on a %s document",
                        name,
                        elapsed * 1000,
                        doc_name,
                    )

        return timed


class DeviceFailure(FailedStatus):
    """A device's status failed: says what failed and why, not the status object's repr.

    bluesky raises :class:`~bluesky.utils.FailedStatus` with the status object as its
    only argument, so ``str()`` of it (the ``reason`` of the run's stop document, and
    the message an operator sees) is a ``<WatchableAsyncStatus ...>`` repr. This
    subclass keeps the status (``args[0]``) and the underlying error
    (``__cause__``), and reads as ``FrameWriteError: the disk holding ... is full``.
    """

    def __str__(self) -> str:
        """The underlying error, by type and message (the status repr if there is none)."""
        cause = self.__cause__
        if cause is None:
            return super().__str__()
        return f"{type(cause).__name__}: {cause}"


def readable_failures(
    plan: Generator[Msg, Any, Any], abort_reason: Callable[[], str] | None = None
) -> Generator[Msg, Any, Any]:
    """Run ``plan``, turning each failed status thrown into it into a :class:`DeviceFailure`.

    Behaves as ``yield from plan`` otherwise (a plan preprocessor: the RunEngine hands
    preprocessors a generator). bluesky's ``run_wrapper`` closes an aborted run with no
    reason; ``abort_reason`` (the reason given to ``RE.abort``) fills it in.
    """
    send: Any = None
    throw: BaseException | None = None
    while True:
        try:
            msg = plan.send(send) if throw is None else plan.throw(throw)
        except StopIteration as done:
            return done.value
        kwargs = msg.kwargs
        if (
            abort_reason is not None
            and msg.command == "close_run"
            and kwargs.get("exit_status") == "abort"
            and not kwargs.get("reason")
        ):
            msg = msg._replace(kwargs={**kwargs, "reason": abort_reason()})
        try:
            send, throw = (yield msg), None
        except GeneratorExit:
            plan.close()
            raise
        except FailedStatus as exc:
            send, throw = None, _readable(exc)
        except BaseException as exc:
            send, throw = None, exc


def _readable(exc: FailedStatus) -> FailedStatus:
    if isinstance(exc, DeviceFailure) or exc.__cause__ is None:
        return exc
    readable = DeviceFailure(*exc.args)
    readable.__cause__ = exc.__cause__
    return readable.with_traceback(exc.__traceback__)


class _RunLog(ComposableLogAdapter):
    """The RunEngine's log, without the traceback bluesky logs each time a run ends early.

    The exception that ended a run reaches the RunEngine's caller anyway (or the caller
    asked for the abort): logging it as an error too printed a traceback on every
    aborted or failed command-line run. It is logged at debug level instead.
    """

    def exception(self, msg: object, *args: object, **kwargs: Any) -> None:
        """Log ``"Run aborted"`` at debug level with its traceback; anything else as usual."""
        if msg == "Run aborted":
            kwargs.setdefault("exc_info", True)
            self.debug(msg, *args, **kwargs)
        else:
            super().exception(msg, *args, **kwargs)


class CtrlCEndsRun:
    """Ctrl-C handling where nobody can resume a paused run (the command line).

    Use its :meth:`manage` as a RunEngine context manager (``RE.context_managers``), in
    place of bluesky's ``SigintHandler``. The first Ctrl-C asks for a deferred pause (the
    run stops at the next checkpoint: the end of the current field of view); any later
    one for an immediate pause. The caller then sees ``RunEngineInterrupted`` and aborts
    the run (``RE.abort(reason)``), which records every image already on disk. Ctrl-C
    presses while the run is being aborted are acknowledged and otherwise ignored.

    Attributes:
        presses: Ctrl-C presses so far.
    """

    def __init__(self, out: Callable[[str], None] | None = None) -> None:
        self.presses = 0
        self._out = out or (lambda text: print(text, flush=True))

    def manage(self, RE: RunEngine) -> _CtrlCHandler:
        """The context manager for one stretch of ``RE`` running (bluesky calls this)."""
        return _CtrlCHandler(self, RE)

    def _on_press(self, RE: RunEngine) -> None:
        self.presses += 1
        threading.Thread(
            target=self._request, args=(RE, self.presses), name="hcs-ctrl-c", daemon=True
        ).start()

    def _request(self, RE: RunEngine, press: int) -> None:
        if RE.state in ("running", "pausing") and press == 1:
            self._out("Ctrl-C: ending the run after this field of view (Ctrl-C again: now)")
            defer = True
        elif RE.state in ("running", "pausing"):
            self._out("Ctrl-C: ending the run now")
            defer = False
        else:
            self._out("Ctrl-C: the run is ending; recording its images, please wait")
            return
        try:
            RE.request_pause(defer=defer)
        except Exception as exc:  # the run ended meanwhile: nothing to pause
            log.debug("pause request after Ctrl-C refused: %s", exc)


class _CtrlCHandler:
    """Installs :class:`CtrlCEndsRun`'s SIGINT handler (main thread only)."""

    def __init__(self, owner: CtrlCEndsRun, RE: RunEngine) -> None:
        self._owner = owner
        self._RE = RE
        self._previous: Any = None
        self._installed = False

    def __enter__(self) -> _CtrlCHandler:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
            self._installed = True
        return self

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self._owner._on_press(self._RE)  # pyright: ignore[reportPrivateUsage]

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._installed:
            signal.signal(signal.SIGINT, self._previous)
            self._installed = False


class MicroscopeRunEngine(RunEngine):
    """A RunEngine that owns a microscope while it runs a plan.

    Args:
        owner: the microscope's hardware owner.
        safe_state: coroutine function restoring the safe state (run after every plan).
        kwargs: passed to ``RunEngine``.
    """

    def __init__(
        self,
        owner: HardwareOwner,
        safe_state: Callable[[], Awaitable[None]] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        # Documents are checked against event-model's rules, at a fraction of the cost;
        # messages' span attributes are made only when a tracer records them.
        use_lean_validators()
        trace_messages_only_when_recorded()
        self.owner = owner
        self.safe_state = safe_state
        self.timer = MessageTimer()
        self.slow_callbacks = SlowCallbacks()
        self.msg_hook = self.timer
        self._token: object | None = None
        self.state_hook = self._on_state
        self.subscribe(self._on_document)
        self.log = _RunLog(self.log.logger, self.log.extra)
        self.preprocessors.append(
            lambda plan: readable_failures(plan, lambda: str(self._reason or ""))  # pyright: ignore[reportUnknownArgumentType, reportUnknownMemberType, reportAttributeAccessIssue]
        )

    @property
    def context_managers(self) -> list[Any]:
        """Context managers entered around each stretch of running (bluesky's hook).

        bluesky's ``SigintHandler`` installs a SIGINT handler, which only the main
        thread may do: a plan run from another thread (the web console's control
        thread) runs without it, and Ctrl-C stays the main thread's.
        """
        managers = self._context_managers
        if threading.current_thread() is threading.main_thread():
            return managers
        return [m for m in managers if m is not SigintHandler]

    @context_managers.setter
    def context_managers(self, managers: list[Any]) -> None:
        self._context_managers = list(managers)

    def subscribe_timed(self, callback: Callable[[str, dict[str, Any]], Any], name: str) -> int:
        """Subscribe a document callback whose slow calls are reported by ``name``."""
        return self.subscribe(self.slow_callbacks.wrap(callback, name))

    def _on_document(self, name: str, doc: dict[str, Any]) -> None:
        if name == "start":
            self.timer.start_run()
        elif name == "stop":
            self.timer.end_run(doc["run_start"])

    def _on_state(self, new: str, old: str) -> None:
        token = self._token
        if token is None:
            return
        if new == "paused":
            self.owner.suspend(token)
        elif new == "running":
            self.owner.resume(token)

    async def _run(self) -> Any:  # type: ignore[override]
        token = self.owner.claim("a running plan")
        self._token = token
        try:
            with self.owner.acting_as(token):
                try:
                    return await super()._run()
                finally:
                    if self.safe_state is not None:
                        try:
                            await self.safe_state()
                        except Exception:
                            log.exception("restoring the safe state failed")
        finally:
            self._token = None
            self.owner.release(token)
