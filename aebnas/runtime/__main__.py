"""``python -m aebnas.runtime``: see :mod:`aebnas.runtime.cli`."""

import sys

from aebnas.errors import run_cli
from aebnas.runtime.cli import main

if __name__ == "__main__":
    sys.exit(run_cli(main))
