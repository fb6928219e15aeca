"""illumination."""
