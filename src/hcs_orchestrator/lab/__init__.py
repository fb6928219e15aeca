"""Lab mode: the microscope as a service under bluesky-queueserver.

``hcs lab up`` starts, on this machine's loopback interface, a Redis, a Tiled server
on the data directory (``hcs serve``), the forwarder draining the spool into it (``hcs
forward``) and the queue server's RE Manager, whose worker opens the microscope with
the startup profile (``profile/startup``). Modules:

- :mod:`~hcs_orchestrator.lab.profile`: the session the startup files open;
- :mod:`~hcs_orchestrator.lab.layout`: the lab directory (pid files, logs, addresses);
- :mod:`~hcs_orchestrator.lab.services`: how each service is started and checked;
- :mod:`~hcs_orchestrator.lab.supervisor`: up, down, restart and status.
"""
