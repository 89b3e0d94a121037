"""Files that hold secrets (the `.env`, SQLite databases, the paper exchange's data) are readable by their owner only."""

import os
import stat

PRIVATE = 0o600


def make_private(path):
    """``chmod 600`` an existing file whose group or others may read it. True if it changed."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    if stat.S_IMODE(mode) & 0o077:
        os.chmod(path, PRIVATE)
        return True
    return False


def readable_by_others(path):
    """True when a regular file exists there and its group or others may read or write it (``/dev/null`` as the
    env file, say, is no file of ours)."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return stat.S_ISREG(mode) and bool(stat.S_IMODE(mode) & 0o066)


def sqlite_files(database):
    """A SQLite database and the journal files it keeps beside it."""
    return [str(database), f"{database}-wal", f"{database}-shm", f"{database}-journal"]
