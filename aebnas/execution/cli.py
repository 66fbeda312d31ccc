"""Command-line flags of the execution seam, shared by ``surrogate_data`` and ``bo_search``."""

from __future__ import annotations

import argparse
from typing import Any

#: Flags of this module (their ``dest`` names), which a resumed search may change.
EXECUTION_FLAGS = ("executor", "ray_address", "storage", "max_retries")


def add_execution_arguments(parser: argparse.ArgumentParser) -> None:
    """``--executor``, ``--ray-address``, ``--storage``, ``--max-retries`` (config keys
    ``execution.*``; the worker count stays each command's ``--workers``)."""
    parser.add_argument(
        "--executor", help="where candidates are trained: local (processes, default) or ray"
    )
    parser.add_argument(
        "--ray-address",
        help="running Ray cluster (host:6379); default $RAY_ADDRESS, else a local Ray",
    )
    parser.add_argument(
        "--storage",
        help="folder the workers and this machine share: checkpoints are written there",
    )
    parser.add_argument(
        "--max-retries", type=int, help="restarts of a candidate whose worker died (default 2)"
    )


def execution_overrides(args: Any) -> dict[str, Any]:
    """Config overrides (dotted keys) of the flags of :func:`add_execution_arguments`."""
    return {
        "execution.executor": args.executor,
        "execution.ray_address": args.ray_address,
        "execution.storage": args.storage,
        "execution.max_retries": args.max_retries,
    }
