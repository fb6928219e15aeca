"""The plans and helpers a microscopist uses at the prompt."""

import bluesky.plan_stubs as bps  # noqa: F401
import bluesky.plans as bp  # noqa: F401

from hcs_orchestrator import DEMO_SPEC  # noqa: F401
from hcs_plans import acquire_plate, load_spec, spec_from_data  # noqa: F401
from hcs_storage import well_fields  # noqa: F401

print(
    "hcs session ready: RE, microscope (stage, camera, illumination, filter_wheel, "
    "fluidics), "
    "catalog; RE(acquire_plate(microscope, load_spec(DEMO_SPEC)))"
)
