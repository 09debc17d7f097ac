"""Run a function in a freshly forked child process and get its (picklable) result back.

espeak-ng and flite keep hidden state between synthesis calls; a forked child starts from its
parent's state, so work done in children of a parent that never synthesises is reproducible
whatever ran before it.
"""

from __future__ import annotations

import ctypes
import os
import pickle
import signal
import traceback
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def _die_with_parent() -> None:
    """Linux: get SIGKILL when the parent dies, so a stopped worker leaves no busy orphans."""
    try:
        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def run_forked(fn: Callable[[], T]) -> T:
    """Call ``fn()`` in a forked child and return its result; a child's exception is re-raised here."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: compute, send, and leave without running the parent's cleanup handlers
        code = 0
        try:
            _die_with_parent()
            os.close(read_fd)
            try:
                payload = pickle.dumps((True, fn()), protocol=pickle.HIGHEST_PROTOCOL)
            except BaseException as e:  # sent to the parent, which raises it
                payload = pickle.dumps((False, f"{type(e).__name__}: {e}\n{traceback.format_exc()}"))
            with os.fdopen(write_fd, "wb") as f:
                f.write(payload)
        except BaseException:
            code = 1
        os._exit(code)
    os.close(write_fd)
    with os.fdopen(read_fd, "rb") as f:
        data = f.read()
    _, status = os.waitpid(pid, 0)
    if status != 0 or not data:
        raise RuntimeError(f"forked worker process died (wait status {status})")
    ok, value = pickle.loads(data)
    if not ok:
        raise RuntimeError(f"error in forked worker process: {value}")
    return value
