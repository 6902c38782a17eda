"""The child side of ``registry.sandbox``: limit itself, read stdin, run a task, write JSON.

It is the first module the child imports, so it imports as little as it can (no
subprocess, tempfile or pathlib): the inspection child's start-up is part of every
registration with a model file.
"""

from __future__ import annotations

import errno
import importlib
import json
import os
import resource
import sys
from typing import Any

# Task name -> ("module:function", whether it needs site-packages). The function takes the
# bytes and returns JSON-able data, raising ValueError (or a subclass) to refuse the input.
TASKS: dict[str, tuple[str, bool]] = {
    "model.inspect": ("registry.skops_archive:archive_facts", False),
    "model.load": ("registry.model_files:load_task", True),
}


def _out_of_memory(exc: BaseException) -> bool:
    """Whether an error is the address-space limit showing through (mmap, dlopen)."""
    text = str(exc)
    return (isinstance(exc, OSError) and exc.errno == errno.ENOMEM) or (
        "failed to map segment" in text or "Cannot allocate memory" in text
    )


def main() -> None:
    """Run the task named on the command line on the bytes on stdin, within the limits."""
    task, memory_mb, seconds = sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    limit = memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    cpu = max(1, int(seconds + 0.999))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    # Keep fd 1 for our reply; anything the task prints goes to stderr instead.
    reply = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    try:
        module_name, function_name = TASKS[task][0].split(":")
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
