"""Acquisition descriptions: useq-schema sequences and the hcs model around them."""

from hcs_plans.specs.acquisition import AcquisitionSpec, load_spec, spec_from_data

__all__ = ["AcquisitionSpec", "load_spec", "spec_from_data"]
