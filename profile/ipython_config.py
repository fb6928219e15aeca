"""IPython configuration of the hcs profile (startup files do the work)."""

c = get_config()  # type: ignore[name-defined]  # noqa: F821
c.TerminalIPythonApp.display_banner = False
