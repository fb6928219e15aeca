"""autofocus."""
