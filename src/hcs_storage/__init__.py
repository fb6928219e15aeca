"""Catalog set-up, the non-blocking document path into Tiled, readers and exporters."""
