"""Silence what TensorFlow's and LiteRT's C++ code prints on start-up (absl's "All log messages before
absl::InitializeLog()", cpu_feature_guard, oneDNN, "Created TensorFlow Lite XNNPACK delegate").

Those lines go straight to file descriptor 2 whatever TF_CPP_MIN_LOG_LEVEL says, so `muted()` points
descriptor 2 at a temporary file for the length of a block (an import, a model conversion, an
interpreter's creation) and back afterwards: errors printed later still show, and if the block
itself fails unexpectedly, what it printed is written to stderr after all."""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator
from typing import BinaryIO


@contextlib.contextmanager
def redirected(sink: BinaryIO) -> Iterator[None]:
    """File descriptor 2 (this process's stderr, and what its children inherit) pointed at `sink` for the block."""
    sys.stderr.flush()
    saved = os.dup(2)
    os.dup2(sink.fileno(), 2)
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)


@contextlib.contextmanager
def muted(expected: tuple[type[BaseException], ...] = ()) -> Iterator[None]:
    """Discard what native code writes to stderr inside the block, unless the block raises something
    other than `expected` (errors with their own clear message) or KeyboardInterrupt."""
    with tempfile.TemporaryFile() as sink:
        try:
            with redirected(sink):
                yield
        except BaseException as exc:
            if not isinstance(exc, (*expected, KeyboardInterrupt)):
                sink.seek(0)
                sys.stderr.write(sink.read().decode(errors="replace"))
            raise
