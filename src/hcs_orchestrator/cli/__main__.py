"""``python -m hcs_orchestrator.cli``: the ``hcs`` command, where its script is not on PATH."""

import sys

from hcs_orchestrator.cli import main

sys.exit(main())
