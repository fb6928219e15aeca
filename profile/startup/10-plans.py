"""The plans: those the queue server offers, and at a prompt the helpers too.

Every generator function imported here is a plan the queue server lists
(``existing_plans_and_devices.yaml``); ``user_group_permissions.yaml`` says who may
run which.
"""

from bluesky.plan_stubs import mv, mvr  # noqa: F401  (motion)

from hcs_orchestrator.lab.profile import in_re_worker
from hcs_plans import (  # noqa: F401
    acquire_plate,
    calibrate_laser_autofocus,
    calibrate_plate_a1,
    contrast_autofocus,
    laser_autofocus,
)

if in_re_worker():
    # The queue server checks device names only where a parameter says which it takes:
    # a plate runs on the microscope, and any other name is refused when it is queued.
    from bluesky_queueserver import parameter_annotation_decorator

    on_the_microscope = parameter_annotation_decorator(
        {
            "parameters": {
                "microscope": {
                    "description": "the microscope, by name",
                    "annotation": "Microscopes",
                    "devices": {"Microscopes": ["microscope"]},
                }
            }
        }
    )
    acquire_plate = on_the_microscope(acquire_plate)
    calibrate_plate_a1 = on_the_microscope(calibrate_plate_a1)

    # One unit of a MERFISH experiment, queued by `hcs merfish run --lab` (the unit as
    # JSON); its runs record themselves in the data directory's experiment journal.
    from hcs_plans.merfish.plan import run_unit

    run_unit = on_the_microscope(run_unit)
else:
    import bluesky.plan_stubs as bps  # noqa: F401
    import bluesky.plans as bp  # noqa: F401

    from hcs_orchestrator import DEMO_SPEC  # noqa: F401
    from hcs_plans import load_spec, spec_from_data  # noqa: F401
    from hcs_storage import well_fields  # noqa: F401

    print(
        "hcs session ready: RE, microscope (stage, camera, illumination, filter_wheel, "
        "fluidics), "
        "catalog; RE(acquire_plate(microscope, load_spec(DEMO_SPEC)))"
    )
