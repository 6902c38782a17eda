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

This module must import nothing beyond the standard library: the child imports it first.
"""

from __future__ import annotations

import errno
import importlib
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

# Task name -> "module:function"; the function takes the bytes and returns JSON-able data,
# raising ValueError (or a subclass) to refuse the input with a message.
TASKS = {
    "model.inspect": "registry.skops_archive:archive_facts",
    "model.load": "registry.model_files:load_task",
}

_ROOT = str(Path(__file__).resolve().parent.parent)
_BOOT = "import sys; sys.path.insert(0, sys.argv[1]); from registry.sandbox import child; child()"
_STDERR_TAIL = 2000


class Refused(ValueError):
    """The child refused the input, or stopped at a limit; the message says which."""


class OverLimit(Refused):
    """The child hit its memory or time limit."""


def run(task: str, data: bytes, *, memory_mb: int, seconds: float) -> Any:
    """Run ``task`` on ``data`` in a limited child; its JSON result, or Refused."""
    if task not in TASKS:
        raise KeyError(task)
    command = [sys.executable, "-I", "-c", _BOOT, _ROOT, task, str(memory_mb), str(seconds)]
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


def _out_of_memory(exc: BaseException) -> bool:
    """Whether an error is the address-space limit showing through (mmap, dlopen)."""
    text = str(exc)
    return (isinstance(exc, OSError) and exc.errno == errno.ENOMEM) or (
        "failed to map segment" in text or "Cannot allocate memory" in text
    )


def child() -> None:
    """The child's entry point: limit itself, read stdin, run the task, write JSON."""
    task, memory_mb, seconds = sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    limit = memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    cpu = max(1, int(seconds + 0.999))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    # Keep fd 1 for our reply; anything the task prints goes to stderr instead.
    reply = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    try:
        module_name, function_name = TASKS[task].split(":")
        function = getattr(importlib.import_module(module_name), function_name)
        message: dict[str, Any] = {"result": function(sys.stdin.buffer.read())}
    except MemoryError:
        message = {"memory": True}
    except ValueError as exc:
        message = {"refused": str(exc)}
    except Exception as exc:  # the input's fault: any parser failure refuses it
        if _out_of_memory(exc):
            message = {"memory": True}
        else:
            message = {"refused": f"It could not be read ({type(exc).__name__}: {exc})."}
    try:
        reply.write(json.dumps(message))
    except MemoryError:
        reply.write('{"memory": true}')
    reply.close()
