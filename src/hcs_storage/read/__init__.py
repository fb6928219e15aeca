"""Reading runs back, one job per module.

- :mod:`~hcs_storage.read.find`: finding runs (:func:`find_runs`, :func:`lookup_run`);
- :mod:`~hcs_storage.read.wells`: well and row names;
- :mod:`~hcs_storage.read.run_info`: what a run's start document says (:func:`run_info`);
- :mod:`~hcs_storage.read.frames`: a run's frames and their rows (:func:`frame_table`,
  :func:`select_frames`, :func:`read_frames`);
- :mod:`~hcs_storage.read.layout`: frames in a field x t x c x z grid (:func:`run_layout`);
- :mod:`~hcs_storage.read.images`: images with coordinates (:func:`run_images`,
  :func:`well_fields`).

``hcs_storage.query`` gathers them under one name, as ``hcs_storage`` does.
"""
