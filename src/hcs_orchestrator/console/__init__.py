"""The web console (``hcs console``): live image, plate map, run progress, on one page."""
