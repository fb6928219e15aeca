"""Live view and plate calibration at the prompt: ``live()``, ``calibrate_a1()``...

``live()``, ``snap()``, ``move_to(x_um, y_um)``, ``stop_live()``, ``calibrate_a1(well="A1")``;
``acquire_in_background(spec)`` with ``pause()``, ``resume()``, ``abort()``, ``wait()``.

Interactive only: the queue server's RE worker has no prompt to steer live view from.
"""

from hcs_orchestrator.lab.profile import in_re_worker

if not in_re_worker():
    from hcs_orchestrator.live_control import LiveControl
    from hcs_orchestrator.live_prompt import PromptHelpers

    live_control = LiveControl(RE, microscope)  # noqa: F821  (00-session.py)
    _helpers = PromptHelpers(live_control)
    live, snap, move_to, stop_live, calibrate_a1 = (
        _helpers.live,
        _helpers.snap,
        _helpers.move_to,
        _helpers.stop_live,
        _helpers.calibrate_a1,
    )
    # A plate in the background, the prompt kept: pause(), resume(), abort(), wait().
    acquire_in_background, pause, resume, abort, wait = (
        _helpers.acquire_in_background,
        _helpers.pause,
        _helpers.resume,
        _helpers.abort,
        _helpers.wait,
    )
