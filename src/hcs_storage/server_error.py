"""The error every part of server mode raises when it cannot be configured or started."""


class ServerError(RuntimeError):
    """The server could not be configured or started."""
