"""MERFISH experiments: protocol files, units of work, the journal and resume."""

from hcs_orchestrator.merfish.protocol import (
    Protocol,
    expand_units,
    load_protocol,
    protocol_hash,
)

__all__ = ["Protocol", "expand_units", "load_protocol", "protocol_hash"]
