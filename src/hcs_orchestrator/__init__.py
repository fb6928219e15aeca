"""Protocols, the durable journal, resume, session wiring and the ``hcs`` command."""
