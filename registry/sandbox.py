"""Running a check on untrusted bytes in a child process with memory and time limits.

Model files are untrusted input: a small crafted file can make a parser or loader take
gigabytes or hours. So the web request and the worker never parse one first in their own
process; they hand the bytes to a child, which:

* is a fresh ``python -I`` (no user site, no PYTHON* variables, no current directory on
  ``sys.path``) started with a minimal environment (no secrets, one BLAS thread);
* sets its own ``RLIMIT_AS`` (address space) and ``RLIMIT_CPU`` before reading any input;
  the parent also kills it after a wall-clock timeout;
* reads the bytes from stdin, runs one named task from ``TASKS`` and writes back only
  JSON. Nothing is ever unpickled on either side, so the parent trusts no object the
  child built from the input; it gets plain facts or a refusal.

The inspection task imports only the standard library (``registry.skops_archive``), so a
registration pays tens of milliseconds for the child. The load task imports scikit-learn
and skops (seconds); it runs in the worker only.

The child's side lives in ``registry.sandbox_child``, which imports as little as it can.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from .sandbox_child import TASKS

_ROOT = str(Path(__file__).resolve().parent.parent)
_BOOT = (
    "import sys; sys.path.insert(0, sys.argv[1]); from registry.sandbox_child import main; main()"
)
_STDERR_TAIL = 2000


class Refused(ValueError):
    """The child refused the input, or stopped at a limit; the message says which."""


class OverLimit(Refused):
    """The child hit its memory or time limit."""


def run(task: str, data: bytes, *, memory_mb: int, seconds: float) -> Any:
    """Run ``task`` on ``data`` in a limited child; its JSON result, or Refused."""
    if task not in TASKS:
        raise KeyError(task)
    # -I: no user site, PYTHON* variables or current directory; -S (stdlib-only tasks): no
    # site-packages either, which also saves the venv's site start-up.
    flags = ["-I"] if TASKS[task][1] else ["-I", "-S"]
    command = [sys.executable, *flags, "-c", _BOOT, _ROOT, task, str(memory_mb), str(seconds)]
    with tempfile.TemporaryFile() as errors:
        try:
            # The command is fixed (this interpreter, our module); the untrusted bytes go to stdin.
            done = subprocess.run(  # noqa: S603
                command,
                input=data,
                stdout=subprocess.PIPE,
                stderr=errors,
                env=_child_env(),
                timeout=seconds,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise OverLimit(f"took longer than {seconds:g} seconds") from exc
        errors.seek(max(0, errors.seek(0, os.SEEK_END) - _STDERR_TAIL))
        tail = errors.read().decode("utf-8", "replace")
    try:
        reply = json.loads(done.stdout)
    except ValueError:
        reply = None
    if isinstance(reply, dict) and done.returncode == 0:
        if "result" in reply:
            return reply["result"]
        if reply.get("memory"):
            raise OverLimit(f"needs more than {memory_mb:,} MB of memory")
        raise Refused(str(reply.get("refused", "refused")))
    raise _death(done.returncode, tail, memory_mb, seconds)


def _death(code: int, stderr: str, memory_mb: int, seconds: float) -> Refused:
    """What a child that gave no reply most likely ran into."""
    if code in (-signal.SIGXCPU, -signal.SIGKILL):
        return OverLimit(f"took longer than {seconds:g} seconds of CPU time")
    # Allocation failures in C code often abort or crash instead of raising MemoryError.
    if (
        "MemoryError" in stderr
        or "bad_alloc" in stderr
        or code in (-signal.SIGABRT, -signal.SIGSEGV)
    ):
        return OverLimit(f"needs more than {memory_mb:,} MB of memory")
    return Refused(f"the checking process failed (exit status {code})")


def _child_env() -> dict[str, str]:
    """A minimal environment: the child sees no secrets and starts one thread per library."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C.UTF-8"}
    # BLAS and OpenMP reserve address space per thread; one keeps RLIMIT_AS meaningful.
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env[name] = "1"
    return env
