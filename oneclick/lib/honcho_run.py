"""`make run`'s process manager: honcho, kept alive when its output goes away.

`make run 2>&1 | tee run.log`, then Ctrl-C: the terminal signals tee as well,
which dies first, and honcho's next line (saying it stops the processes) fails
with a broken pipe. Plain honcho dies there and leaves every process it started
running. Here a line that can no longer be written is dropped, with every line
after it, so honcho goes on to stop them all.

    python -m oneclick.lib.honcho_run --procfile Procfile start
"""

import os
import sys

from honcho import command, printer

_write = printer.Printer.write


def _write_or_drop(self, message):
    try:
        _write(self, message)
    except (BrokenPipeError, ConnectionResetError):
        # The reader is gone: what follows goes nowhere, and Python's own last flush at exit finds no pipe.
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, self.output.fileno())
        finally:
            os.close(devnull)


printer.Printer.write = _write_or_drop

if __name__ == "__main__":
    sys.exit(command.main())
