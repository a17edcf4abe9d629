"""User-facing errors of the toolkit.

Every error a user can cause (a missing file, a bad name, a malformed architecture string) is
raised as a :class:`NasflatError` whose message is a single line that says what is wrong and,
where possible, how to fix it. Command-line entry points print that line instead of a traceback.
"""
import sys
from typing import Callable


class NasflatError(Exception):
    """Base class of errors shown to the user as one line."""


class DataError(NasflatError):
    """A data file is missing, truncated, malformed or fails its checksum."""


class UnknownNameError(NasflatError):
    """A name (device, task, space, sampler...) is not one of the valid choices."""


class ArchitectureError(NasflatError):
    """An architecture string or index is malformed or not in the search space."""


def one_line(message: str) -> str:
    """Collapse a message to a single line (exception texts from libraries may span several)."""
    return " ".join(str(message).split())


def run_reporting_errors(action: Callable[[], None], interrupted: str = "interrupted") -> int:
    """Run ``action`` for a command-line entry point: 0 on success; a :class:`NasflatError` is
    printed as one ``error: ...`` line (exit status 2) and Ctrl-C as ``interrupted`` (130)."""
    try:
        action()
    except NasflatError as exc:
        print(f"error: {one_line(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(interrupted, file=sys.stderr)
        return 130
    return 0
