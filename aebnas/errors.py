"""User-facing errors and the command-line boundary that turns them into one line + exit 2.

Every CLI's ``__main__`` goes through :func:`run_cli`:

- :class:`UserError` (bad config, flag, architecture string, data folder, archive, ...) and an
  :class:`OSError` of the environment (a path that cannot be read or written) print exactly one
  line ``error: <problem>; <fix>`` to stderr and exit with status 2, no traceback;
- any other exception is an internal error: one line naming it and suggesting ``--debug``,
  exit status 1; with ``--debug`` among the arguments it propagates with its traceback.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence

EXIT_USAGE = 2
EXIT_INTERNAL = 1
DEBUG_FLAG = "--debug"


class UserError(Exception):
    """Bad input from the user (config, architecture string, data folder, flag).

    The message must name the problem and the fix in one line; the CLI prints it without a
    traceback and exits with status 2.
    """


def one_line(text: str) -> str:
    """``text`` with its line breaks folded into spaces (stderr gets exactly one line)."""
    return " ".join(str(text).split())


def os_error_message(err: OSError) -> str:
    """The one-line message of a file-system error: what failed on which path, and the fix."""
    what = err.strerror or type(err).__name__
    where = f" {err.filename}" if err.filename is not None else ""
    return f"cannot access{where}: {what}; check the path and its permissions, or choose another"


def run_cli(
    main: Callable[[Sequence[str] | None], int | None], argv: Sequence[str] | None = None
) -> int:
    """Run a CLI ``main`` behind the one error boundary of every aebnas command.

    Args:
        main: The command's entry point; returns an exit status or ``None`` for success. Its
            parser must accept ``--debug`` (:class:`aebnas.cli.ArgumentParser` adds it).
        argv: Arguments (``sys.argv[1:]`` when ``None``).

    Returns:
        The process exit status: 0 (or ``main``'s), 2 for bad input, 1 for an internal error,
        130 when interrupted.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        status = main(args)
    except UserError as err:
        print(f"error: {one_line(str(err))}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as err:
        if DEBUG_FLAG in args:
            raise
        print(f"error: {one_line(os_error_message(err))}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as err:
        if DEBUG_FLAG in args:
            raise
        print(
            f"error: internal error ({type(err).__name__}: {one_line(str(err))[:300]}); "
            f"rerun with {DEBUG_FLAG} for the traceback and report it",
            file=sys.stderr,
        )
        return EXIT_INTERNAL
    return 0 if status is None else int(status)
