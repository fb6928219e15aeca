"""The RE Manager's control address: its encryption keys and the lab's own clients.

With encryption on (``hcs lab up --encrypt``) the RE Manager's 0MQ control socket
speaks CurveZMQ: the manager holds a private key, and a client must know the matching
public key to be answered at all; a client without it gets no reply (its request
times out). The key pair is generated once, by :func:`make_control_keys`, and kept in
the lab directory::

    zmq-control-key       the private key (mode 0600): the RE Manager's alone
    zmq-control-key.pub   the public key: for clients (``QSERVER_ZMQ_PUBLIC_KEY``)

The manager reads its key from ``QSERVER_ZMQ_PRIVATE_KEY_FOR_SERVER`` (never from its
command line, which every user of the machine can read); ``qserver`` and
``bluesky_queueserver_api`` read the public key from ``QSERVER_ZMQ_PUBLIC_KEY``.
"""

from __future__ import annotations

from typing import Any

from hcs_orchestrator.lab.layout import LabLayout, LabSettings

#: The environment variable the RE Manager reads its private key from.
PRIVATE_KEY_ENV = "QSERVER_ZMQ_PRIVATE_KEY_FOR_SERVER"
#: The environment variable queue-server clients read the public key from.
PUBLIC_KEY_ENV = "QSERVER_ZMQ_PUBLIC_KEY"


def make_control_keys(layout: LabLayout) -> None:
    """Generate the control key pair into the lab directory, unless it is there."""
    from bluesky_queueserver import generate_zmq_keys

    from hcs_storage.api_key import write_api_key_file

    if layout.control_key_file.exists() and layout.control_public_key_file.exists():
        return
    public, private = generate_zmq_keys()
    write_api_key_file(layout.control_key_file, private)  # mode 0600, replaced atomically
    layout.control_public_key_file.write_text(public + "\n")


def public_key(layout: LabLayout, settings: LabSettings) -> str | None:
    """The public key clients need, None when the lab does not encrypt."""
    if not settings.encrypt:
        return None
    return layout.control_public_key_file.read_text().strip()


def server_environment(layout: LabLayout, settings: LabSettings) -> dict[str, str]:
    """What the RE Manager's environment gets for encryption (empty when it is off)."""
    if not settings.encrypt:
        return {}
    return {PRIVATE_KEY_ENV: layout.control_key_file.read_text().strip()}


def manager_client(
    layout: LabLayout,
    settings: LabSettings,
    *,
    timeout_recv_s: float = 2.0,
    timeout_send_s: float = 1.0,
) -> Any:
    """A client of the lab's RE Manager (``REManagerAPI``), with the public key if needed.

    Close it after use (``close()``).
    """
    from bluesky_queueserver_api.zmq import REManagerAPI

    return REManagerAPI(
        zmq_control_addr=settings.zmq_control_address,
        zmq_public_key=public_key(layout, settings),
        timeout_recv=timeout_recv_s,
        timeout_send=timeout_send_s,
    )


def close_client(api: Any) -> None:
    """Close a client of the RE Manager and every 0MQ context it made.

    ``REManagerAPI.close()`` closes its request socket but leaves the 0MQ contexts (its
    own and its two output monitors') to the garbage collector, which warns about them
    at some later, unrelated moment.
    """
    import zmq

    api.close()
    contexts: dict[int, Any] = {}
    parts = [api]
    for _ in range(3):  # the client, its monitors and their receivers
        found = []
        for part in parts:
            for value in getattr(part, "__dict__", {}).values():
                if isinstance(value, zmq.Context):
                    contexts[id(value)] = value
                elif isinstance(value, zmq.Socket):
                    contexts[id(value.context)] = value.context
                elif hasattr(value, "__dict__") and type(value).__module__.startswith("bluesky"):
                    found.append(value)
        parts = found
    for context in contexts.values():
        context.destroy(linger=0)
