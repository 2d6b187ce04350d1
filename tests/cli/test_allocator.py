"""The memory allocator main.py runs under: tcmalloc preloaded once, TensorFlow's own allocator."""

from __future__ import annotations

from nst.cli.allocator import (
    BFC_VARIABLE,
    MARK,
    OFF_SWITCH,
    find_tcmalloc,
    preload_environment,
    tensorflow_environment,
)


def test_allocator_preload_environment(tmp_path):
    library = str(tmp_path / "libtcmalloc_minimal.so.4")
    env = preload_environment({"LD_PRELOAD": "libother.so"}, library)
    assert env["LD_PRELOAD"] == f"{library} libother.so" and env[MARK] == "1"
    assert preload_environment({}, None) is None  # not installed: run as is
    assert preload_environment({MARK: "1"}, library) is None  # re-executed once only
    assert preload_environment({OFF_SWITCH: "1"}, library) is None  # the off switch
    assert preload_environment({"LD_PRELOAD": library}, library) is None
    (tmp_path / "libtcmalloc_minimal.so.4").write_bytes(b"")
    assert find_tcmalloc(("/nonexistent/lib.so", library)) == library


def test_main_uses_tensorflows_pooling_allocator_unless_told_otherwise():
    assert tensorflow_environment({}) == {BFC_VARIABLE: "true"}
    assert tensorflow_environment({BFC_VARIABLE: "false"}) == {}  # the user's choice is kept
