"""Acquisition specs: what a plate acquisition does, as users write it."""

from hcs_plans.specs.acquisition import AcquisitionSpec, as_spec, load_spec, spec_from_data
from hcs_plans.specs.settings import as_settings

__all__ = ["AcquisitionSpec", "as_settings", "as_spec", "load_spec", "spec_from_data"]
