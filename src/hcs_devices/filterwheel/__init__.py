"""filterwheel."""
