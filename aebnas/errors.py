"""User-facing errors and the command-line wrapper that turns them into one line + exit 2."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence

EXIT_USAGE = 2


class UserError(Exception):
    """Bad input from the user (config, architecture string, data folder, flag).

    The message must name the problem and the fix in one line; the CLI prints it without a
    traceback and exits with status 2.
    """


def run_cli(
    main: Callable[[Sequence[str] | None], int | None], argv: Sequence[str] | None = None
) -> int:
    """Run a CLI ``main`` and map :class:`UserError` to a one-line message and exit status 2.

    Args:
        main: The command's entry point; returns an exit status or ``None`` for success.
        argv: Arguments (``sys.argv[1:]`` when ``None``).

    Returns:
        The process exit status.
    """
    try:
        status = main(argv)
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 0 if status is None else int(status)
