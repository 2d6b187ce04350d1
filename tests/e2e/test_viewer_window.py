"""The viewer in a real window, on a virtual X server (Xvfb): what it shows, keys, closing.

Needs Xvfb, xdotool (keys, finding the window) and xwd (screenshots); `.ci/run` installs them
with apt-get. Every wait polls with a deadline: no fixed sleeps, no hangs.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import select
import shutil
import struct
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from nst.cli.viewer import image_box
from nst.output.evolution import MIN_LONG_SIDE, fit_scale, load_rgb, scaled_size
from tests.helpers import ROOT, tiny_overrides
from tests.helpers.fake_run import COLOURS, ITERATIONS, SIZE, make_fake_run

SCREEN = (1280, 1024)
TOOLS = {"Xvfb": "xvfb", "xdotool": "xdotool", "xwd": "x11-apps"}  # command: Debian package
MISSING_TOOLS = [
    f"{tool} (apt package {package})" for tool, package in TOOLS.items() if not shutil.which(tool)
]
pytestmark = [
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Xvfb is for Linux"),
    pytest.mark.skipif(
        bool(MISSING_TOOLS),
        reason=f"not installed: {', '.join(MISSING_TOOLS)}; .ci/run installs them",
    ),
]


def wait_for(check: Callable[[], object], timeout: float, what: str):
    """Poll `check` until it returns something true; fail naming `what` after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.1)


@pytest.fixture(scope="module")
def display() -> Iterator[str]:
    """A fresh Xvfb on a display number it picks itself (-displayfd): never one in use."""
    read_end, write_end = os.pipe()
    server = subprocess.Popen(
        [
            "Xvfb",
            "-displayfd",
            str(write_end),
            "-screen",
            "0",
            "{}x{}x24".format(*SCREEN),
            "-nolisten",
            "tcp",
            "-noreset",  # else it resets when its last client leaves, refusing clients meanwhile
        ],
        pass_fds=(write_end,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(write_end)
    try:
        ready, _, _ = select.select([read_end], [], [], 30)
        number = os.read(read_end, 64).decode().strip() if ready else ""
        if not number:
            pytest.fail("Xvfb did not start within 30 s")
        yield f":{number}"
    finally:
        os.close(read_end)
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def x_env(display: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "WAYLAND_DISPLAY"}
    return {**env, "DISPLAY": display, "TF_CPP_MIN_LOG_LEVEL": "2"}


def xdotool(display: str, *args: str) -> str:
    done = subprocess.run(
        ["xdotool", *args], env=x_env(display), capture_output=True, text=True, timeout=20
    )
    return done.stdout.strip()


def find_window(display: str, name: str, process: subprocess.Popen, log: Path, timeout: float):
    """The id of the visible window whose title contains `name`, once `process` shows one."""

    def search():
        if process.poll() is not None:
            pytest.fail(f"ended (status {process.returncode}) with no window:\n{log.read_text()}")
        return xdotool(display, "search", "--onlyvisible", "--name", name)

    return int(wait_for(search, timeout, f"a window named {name}").split()[0])


def screenshot(display: str, window: int) -> np.ndarray:
    """The window's pixels as an RGB array (xwd's dump, decoded: Pillow cannot read XWD)."""
    data = subprocess.run(
        ["xwd", "-silent", "-id", str(window)],
        env=x_env(display),
        capture_output=True,
        timeout=20,
        check=True,
    ).stdout
    header = struct.unpack(">25I", data[:100])  # the header is always big-endian
    header_size, width, height, byte_order = header[0], header[4], header[5], header[7]
    bits_per_pixel, bytes_per_line, masks, colours = (
        header[11],
        header[12],
        header[14:17],
        header[19],
    )
    step = bits_per_pixel // 8 if bits_per_pixel in (24, 32) else 4
    start = header_size + 12 * colours  # after the colour map (12 bytes an entry)
    rows = np.frombuffer(data, np.uint8, bytes_per_line * height, start).reshape(height, -1)
    raw = rows[:, : width * step].reshape(height, width, step).astype(np.uint32)
    order = range(step) if byte_order == 0 else reversed(range(step))  # 0: LSB first
    pixels = sum(raw[..., byte] << (8 * k) for k, byte in enumerate(order))
    channels = [(pixels & m) >> ((m & -m).bit_length() - 1) for m in masks]
    return np.stack(channels, axis=2).astype(np.uint8)


def shown_image_box(shot: np.ndarray, left, right) -> tuple[int, int, int, int] | None:
    """(x, y, width, height) of a left|right two-colour image in the screenshot, or None."""
    near = [np.all(np.abs(shot.astype(int) - colour) <= 4, axis=2) for colour in (left, right)]
    if min(m.sum() for m in near) < 100:
        return None
    ys, xs = np.nonzero(near[0] | near[1])
    x, y, width, height = xs.min(), ys.min(), xs.max() - xs.min() + 1, ys.max() - ys.min() + 1
    quarter = width // 4  # away from the blended middle column
    solid_left = near[0][y : y + height, x : x + quarter].mean()
    solid_right = near[1][y : y + height, x + width - quarter : x + width].mean()
    return (x, y, width, height) if min(solid_left, solid_right) > 0.98 else None


def expected_size() -> tuple[int, int]:
    return scaled_size(*SIZE, fit_scale(*SIZE, image_box(SCREEN), MIN_LONG_SIDE))


def wait_until_shown(display: str, window: int, index: int, timeout: float = 15):
    """Wait until the window shows fake iterate `index`; return where it shows it."""
    return wait_for(
        lambda: shown_image_box(screenshot(display, window), *COLOURS[index]),
        timeout,
        f"iterate {index} (iteration {ITERATIONS[index]}) on screen",
    )


def wait_until_first_shown(display: str, window: int, index: int):
    """Like wait_until_shown, for a window just opened.

    Qt in the opencv-python wheel sometimes never sees the MapNotify of a new window (seen in
    2 to 13 of 60 windows on Xvfb without a window manager; not tried with one) and then never
    paints it, though it handles keys; mapping it again, as minimising and restoring does,
    makes it paint. The viewer cannot do that through OpenCV, so the test does.
    """
    for _ in range(3):
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            box = shown_image_box(screenshot(display, window), *COLOURS[index])
            if box:
                return box
            time.sleep(0.1)
        xdotool(display, "windowunmap", "--sync", str(window))
        xdotool(display, "windowmap", "--sync", str(window))
    pytest.fail(f"iterate {index} never showed in the new window, even after mapping it again")


@contextlib.contextmanager
def started(command: list[str], display: str, log: Path, cwd: Path = ROOT):
    """`command` running on `display`, its output in `log`; killed if a test leaves it running."""
    with open(log, "wb") as out:  # a file, not a pipe: a chatty child can never block on it
        process = subprocess.Popen(
            command,
            cwd=cwd,
            env=x_env(display),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def viewer_command(run_dir: Path) -> list[str]:
    return [sys.executable, "-m", "nst.cli.viewer", str(run_dir)]


def ended(process: subprocess.Popen, timeout: float = 10) -> int:
    """The process's exit status, once it has ended (failing if it takes over `timeout` s)."""
    try:
        return process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        pytest.fail(f"the process was still running {timeout} s later")


@pytest.fixture
def run_dir(tmp_path) -> Path:
    return make_fake_run(tmp_path / "results")


def test_window_shows_the_iterate_under_the_trackbar_and_keys_move_it(display, run_dir, tmp_path):
    log = tmp_path / "viewer.log"
    with started(viewer_command(run_dir), display, log) as viewer:
        window = find_window(display, run_dir.name, viewer, log, timeout=30)
        # it opens at the result, enlarged to fit (aspect kept), at the window's top-left
        x, y, width, height = wait_until_first_shown(display, window, len(ITERATIONS) - 1)
        assert (x, y) == (0, 0)
        assert abs(width - expected_size()[0]) <= 1 and abs(height - expected_size()[1]) <= 1
        caption = screenshot(display, window)[height : height + 40, : width // 2]
        assert caption.max() > 200 and np.median(caption) < 60, "no caption under the image"

        xdotool(display, "windowfocus", "--sync", str(window))
        for key, index in (("Home", 0), ("Right", 1), ("Right", 2), ("Left", 1), ("End", 3)):
            xdotool(display, "key", key)
            wait_until_shown(display, window, index)

        xdotool(display, "key", "Left", "s")  # back to iteration 6, and save what is shown
        saved = run_dir / f"frame_{ITERATIONS[2]:06d}.png"
        wait_for(saved.is_file, 10, f"{saved.name} to be saved")
        assert shown_image_box(load_rgb(saved), *COLOURS[2]) is not None

        xdotool(display, "key", "q")
        assert ended(viewer) == 0, log.read_text()


def close_with_window_manager_message(display: str, window: int) -> None:
    """Send WM_DELETE_WINDOW, as a window manager does when the close button is clicked
    (Xvfb has no window manager, and this xdotool has no `windowclose`)."""

    class ClientMessage(ctypes.Structure):
        _fields_ = [
            ("type", ctypes.c_int),
            ("serial", ctypes.c_ulong),
            ("send_event", ctypes.c_int),
            ("display", ctypes.c_void_p),
            ("window", ctypes.c_ulong),
            ("message_type", ctypes.c_ulong),
            ("format", ctypes.c_int),
            ("data", ctypes.c_long * 5),
        ]

    class Event(ctypes.Union):
        _fields_ = [("xclient", ClientMessage), ("pad", ctypes.c_long * 24)]

    x11 = ctypes.CDLL(ctypes.util.find_library("X11") or "libX11.so.6")
    x11.XOpenDisplay.restype = ctypes.c_void_p
    x11.XOpenDisplay.argtypes = [ctypes.c_char_p]
    x11.XInternAtom.restype = ctypes.c_ulong
    x11.XInternAtom.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
    x11.XSendEvent.argtypes = [
        ctypes.c_void_p,
        ctypes.c_ulong,
        ctypes.c_int,
        ctypes.c_long,
        ctypes.POINTER(Event),
    ]
    x11.XFlush.argtypes = x11.XCloseDisplay.argtypes = [ctypes.c_void_p]
    connection = x11.XOpenDisplay(display.encode())
    assert connection, f"cannot connect to {display}"
    event = Event()
    event.xclient.type = 33  # ClientMessage
    event.xclient.window = window
    event.xclient.message_type = x11.XInternAtom(connection, b"WM_PROTOCOLS", 0)
    event.xclient.format = 32
    event.xclient.data[0] = x11.XInternAtom(connection, b"WM_DELETE_WINDOW", 0)
    assert x11.XSendEvent(connection, window, 0, 0, ctypes.byref(event))
    x11.XFlush(connection)
    x11.XCloseDisplay(connection)


@pytest.mark.parametrize("how", ["Escape", "close button"])
def test_closing_the_window_ends_the_viewer(display, run_dir, tmp_path, how):
    log = tmp_path / "viewer.log"
    with started(viewer_command(run_dir), display, log) as viewer:
        window = find_window(display, run_dir.name, viewer, log, timeout=30)
        wait_until_first_shown(display, window, len(ITERATIONS) - 1)
        if how == "Escape":
            xdotool(display, "windowfocus", "--sync", str(window))
            xdotool(display, "key", "Escape")
        else:
            close_with_window_manager_message(display, window)
        assert ended(viewer) == 0, log.read_text()


def test_a_run_with_a_single_iterate_shows_it_without_a_trackbar(display, tmp_path):
    run_dir = make_fake_run(tmp_path / "results", (0,), COLOURS[:1])
    log = tmp_path / "viewer.log"
    with started(viewer_command(run_dir), display, log) as viewer:
        window = find_window(display, run_dir.name, viewer, log, timeout=30)
        wait_until_first_shown(display, window, 0)
        xdotool(display, "windowfocus", "--sync", str(window))
        xdotool(display, "key", "Right", "End", "q")
        assert ended(viewer) == 0, log.read_text()


@pytest.mark.slow
def test_a_run_opens_the_viewer_at_its_end_and_ends_when_it_is_closed(
    display, image_pair, tmp_path
):
    results = tmp_path / "results"
    args = tiny_overrides(*image_pair, results, **{"output.show_viewer": "true"})
    command = [sys.executable, str(ROOT / "main.py"), "--config", str(ROOT / "config.ini"), *args]
    log = tmp_path / "main.log"
    # run from elsewhere than the repository: the viewer's child process must still start
    with started(command, display, log, cwd=tmp_path) as run:
        window = find_window(display, "content-style$", run, log, timeout=240)
        (run_dir,) = results.iterdir()
        assert (run_dir / "final.png").is_file()  # every output is on disk before the window
        assert (run_dir / "evolution.gif").is_file()
        xdotool(display, "windowfocus", "--sync", str(window))
        xdotool(display, "key", "q")
        assert ended(run) == 0, log.read_text()
    output = log.read_text()
    assert "viewer not opened" not in output and "viewer failed" not in output
    assert f"python -m nst.cli.viewer {run_dir}" in output
