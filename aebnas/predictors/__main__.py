"""``python -m aebnas.predictors``: see :mod:`aebnas.predictors.cli`."""

import sys

from aebnas.errors import run_cli
from aebnas.predictors.cli import main

if __name__ == "__main__":
    sys.exit(run_cli(main))
