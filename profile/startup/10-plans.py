"""The plans and helpers a microscopist uses at the prompt."""

import bluesky.plan_stubs as bps  # noqa: F401
import bluesky.plans as bp  # noqa: F401

from hcs_plans.acquire import acquire_plate  # noqa: F401
from hcs_plans.specs import load_spec, spec_from_data  # noqa: F401
from hcs_storage.query import well_fields  # noqa: F401

print(
    "hcs session ready: RE, microscope (stage, camera, illumination, filter_wheel), "
    "catalog; RE(acquire_plate(microscope, load_spec('profile/sequences/demo-96.yaml')))"
)
