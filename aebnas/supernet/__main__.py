"""``python -m aebnas.supernet``."""

import sys

from aebnas.errors import run_cli
from aebnas.supernet.cli import main

sys.exit(run_cli(main))
