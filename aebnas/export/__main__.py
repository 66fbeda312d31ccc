"""``python -m aebnas.export``: see :mod:`aebnas.export.cli`."""

import sys

from aebnas.errors import run_cli
from aebnas.export.cli import main

if __name__ == "__main__":
    sys.exit(run_cli(main))
