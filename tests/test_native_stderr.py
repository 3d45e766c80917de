"""`muted()` hides what native code writes to file descriptor 2, except when the block fails unexpectedly."""

import os

import pytest

from nima_utils.native_stderr import muted


def test_native_lines_are_hidden_unless_the_block_fails(capfd):
    with muted():
        os.write(2, b"I0000 cpu_feature_guard.cc] start-up noise\n")
    os.write(2, b"a real error later\n")
    with pytest.raises(RuntimeError), muted():
        os.write(2, b"what the failure printed\n")
        raise RuntimeError("import failed")
    with pytest.raises(ValueError), muted(expected=(ValueError,)):
        os.write(2, b"noise before a clear error\n")
        raise ValueError("bad card")
    err = capfd.readouterr().err
    assert err == "a real error later\nwhat the failure printed\n"
