"""User-facing errors of the toolkit.

Every error a user can cause (a missing file, a bad name, a malformed architecture string) is
raised as a :class:`NasflatError` whose message is a single line that says what is wrong and,
where possible, how to fix it. Command-line entry points print that line instead of a traceback.
"""
import argparse
import sys
from pathlib import Path
from typing import Callable, NoReturn


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


def read_text_file(path, what: str) -> str:
    """The UTF-8 text of ``path``; a missing, unreadable or binary file is a :class:`NasflatError`
    that names ``what`` (e.g. "job list") and the file."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise NasflatError(f"{what} {path} is not a UTF-8 text file") from None
    except OSError as exc:
        raise NasflatError(f"cannot read {what} {path}: {exc.strerror or exc}") from None


def describe_os_error(exc: OSError) -> str:
    """One line for a file-system error: the file (or files) and what went wrong."""
    names = [str(n) for n in (exc.filename, exc.filename2) if n is not None]
    reason = exc.strerror or str(exc)
    return f"{' -> '.join(names)}: {reason}" if names else one_line(reason)


def run_reporting_errors(action: Callable[[], None], interrupted: str = "interrupted") -> int:
    """Run ``action`` for a command-line entry point: 0 on success; a :class:`NasflatError` is
    printed as one ``error: ...`` line (exit status 2) and Ctrl-C as ``interrupted`` (130).

    A file-system error that escaped the checks (an unwritable output path, a folder where a file
    was expected) is reported the same way, naming the file, instead of as a traceback.
    """
    try:
        action()
    except NasflatError as exc:
        print(f"error: {one_line(exc)}", file=sys.stderr)
        return 2
    except OSError as exc:
        if isinstance(exc, BrokenPipeError):
            raise
        print(f"error: cannot use {describe_os_error(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(interrupted, file=sys.stderr)
        return 130
    return 0


class ArgumentParser(argparse.ArgumentParser):
    """``argparse.ArgumentParser`` whose usage errors are one ``error: ...`` line (exit status 2),
    like every other error of the command lines, instead of the usage block."""

    def error(self, message: str) -> NoReturn:
        print(f"error: {one_line(message)} (see {self.prog} --help)", file=sys.stderr)
        sys.exit(2)
