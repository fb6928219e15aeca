"""IPython configuration of the hcs profile (startup files do the work).

The command history is kept per user, outside the clone
(``$XDG_DATA_HOME/hcs/ipython-history.sqlite``, by default under ``~/.local/share``),
so using the profile leaves the working tree clean; ``profile/history.sqlite`` is
git-ignored in case an older IPython configuration writes it there.
"""

import os
from pathlib import Path

c = get_config()  # type: ignore[name-defined]  # noqa: F821
c.TerminalIPythonApp.display_banner = False

_data_home = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
_history = _data_home / "hcs" / "ipython-history.sqlite"
_history.parent.mkdir(parents=True, exist_ok=True)
c.HistoryManager.hist_file = str(_history)
