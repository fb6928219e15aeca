"""Bluesky plans: what the microscope does (plate acquisition, autofocus, MERFISH)."""
