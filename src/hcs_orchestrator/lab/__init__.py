"""Lab mode: the microscope as a service under bluesky-queueserver.

``hcs lab up`` starts, on this machine's loopback interface, a Redis, a Tiled server
on the data directory (``hcs serve``), the forwarder draining the spool into it (``hcs
forward``) and the queue server's RE Manager, whose worker opens the microscope with
the startup profile (``profile/startup``). Modules:

- :mod:`~hcs_orchestrator.lab.profile`: the session the startup files open;
- :mod:`~hcs_orchestrator.lab.layout`: the lab directory (pid files, logs, addresses);
- :mod:`~hcs_orchestrator.lab.services`: how each service is started and checked;
- :mod:`~hcs_orchestrator.lab.supervisor`: up, down, restart and status;
- :mod:`~hcs_orchestrator.lab.control`: the control address's encryption keys and the
  lab's clients of the RE Manager;
- :mod:`~hcs_orchestrator.lab.re_manager`: the RE Manager, riding out a Redis restart;
- :mod:`~hcs_orchestrator.lab.watcher` and :mod:`~hcs_orchestrator.lab.restarter`: the
  watcher service, which recovers a dead worker and restarts a dead storage service.
"""
