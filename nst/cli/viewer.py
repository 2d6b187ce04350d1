"""The evolution viewer: an OpenCV window with a trackbar over a run's saved iterates.

    python -m nst.cli.viewer results/<run>

Keys: ← / → one iterate back / forward, Home / End the first / last, s saves the shown frame
as a PNG in the run folder, q or Esc closes; closing the window ends it too.

After a run, `open_viewer` shows the window in a child process and waits for it to close:
Qt aborts the whole process when it cannot reach a display, and that must not take the run
down. What the window does (keys, layout, whether a display exists) is decided by pure
functions, tested without a display; `show_window` only wires them to OpenCV.
"""

from __future__ import annotations

import argparse
import ctypes
import io
import os
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from nst.output.evolution import (
    POSITION_NAME,
    Frame,
    RunError,
    caption,
    image_size,
    layout,
    load_rgb,
    render_frame,
    run_frames,
)
from nst.output.runfolder import ANIMATION, remove_leftovers, write_bytes_atomic
from nst.run.exits import tell

TRACKBAR = POSITION_NAME  # its value/maximum, as the caption numbers the saved iterates
POLL_MS = 30  # how often the window loop looks at keys, trackbar and close button
STARTUP_TIMEOUT_S = 30.0  # a window not up by then is given up (e.g. a display that never answers)
SCREEN_SHARE = (0.9, 0.8)  # of the screen's width and height the image may take
WINDOW_CHROME_PX = 140  # caption band, trackbar and title bar around the image
DEFAULT_SCREEN = (1280, 800)  # where the screen's size cannot be read
# Key codes as cv2.waitKeyEx reports them: X11 keysyms (Qt and GTK on Linux), Win32, macOS.
KEYS = {
    **dict.fromkeys((0xFF51, 0x250000, 0xF702), "back"),  # ←
    **dict.fromkeys((0xFF53, 0x270000, 0xF703), "forward"),  # →
    **dict.fromkeys((0xFF50, 0x240000, 0xF729), "first"),  # Home
    **dict.fromkeys((0xFF57, 0x230000, 0xF72B), "last"),  # End
    **dict.fromkeys((ord("s"), ord("S")), "save"),
    **dict.fromkeys((ord("q"), ord("Q"), 27), "quit"),  # 27: Esc
}
# Where Linux distributions keep TrueType fonts, for Qt's labels (see use_system_fonts).
FONT_DIRS = (
    "/usr/share/fonts/truetype/dejavu",
    "/usr/share/fonts/dejavu",
    "/usr/share/fonts/TTF",
    "/usr/share/fonts/truetype/liberation",
)


# --- decisions (pure) ---------------------------------------------------------------------


def on_key(key: int, position: int, count: int) -> tuple[str | None, int]:
    """A key pressed at `position` of `count` frames -> (its action or None, the new position)."""
    action = KEYS.get(key)
    moves = {"back": position - 1, "forward": position + 1, "first": 0, "last": count - 1}
    return action, min(max(moves.get(action, position), 0), count - 1)


def display_problem(environ: Mapping[str, str], platform: str) -> str | None:
    """Why no window can open here, or None. On Linux and the BSDs a display must be named:
    without one Qt aborts the process; Windows and macOS always have a screen to try."""
    if platform in ("win32", "darwin") or environ.get("DISPLAY") or environ.get("WAYLAND_DISPLAY"):
        return None
    return "no display (DISPLAY and WAYLAND_DISPLAY are not set)"


def image_box(screen: tuple[int, int] | None) -> tuple[int, int]:
    """The room for the image on a screen of this size (None: unknown), leaving the window's
    caption, trackbar and title bar on screen too."""
    width, height = screen or DEFAULT_SCREEN
    return (
        max(64, int(width * SCREEN_SHARE[0])),
        max(64, int(height * SCREEN_SHARE[1]) - WINDOW_CHROME_PX),
    )


# --- the window ---------------------------------------------------------------------------


def screen_size() -> tuple[int, int] | None:
    """The screen's size in pixels where the platform tells it cheaply (Windows, X11), or None."""
    try:
        if sys.platform == "win32":
            metrics = ctypes.windll.user32.GetSystemMetrics
            return metrics(0), metrics(1)
        x11 = ctypes.CDLL("libX11.so.6")
        x11.XOpenDisplay.restype = ctypes.c_void_p
        x11.XOpenDisplay.argtypes = [ctypes.c_char_p]
        for name in ("XDefaultScreen", "XCloseDisplay"):
            getattr(x11, name).argtypes = [ctypes.c_void_p]
        for name in ("XDisplayWidth", "XDisplayHeight"):
            getattr(x11, name).argtypes = [ctypes.c_void_p, ctypes.c_int]
        display = x11.XOpenDisplay(None)
        if not display:
            return None
        try:
            screen = x11.XDefaultScreen(display)
            return x11.XDisplayWidth(display, screen), x11.XDisplayHeight(display, screen)
        finally:
            x11.XCloseDisplay(display)
    except (OSError, AttributeError):  # no libX11 (macOS, Wayland-only): a default size
        return None


def use_system_fonts() -> None:
    """Point Qt at system fonts where the OpenCV wheel's own font folder is missing.

    `import cv2` sets QT_QPA_FONTDIR to a folder the pip wheels do not ship; Qt then draws
    no text on the trackbar. Qt reads the variable when the first window opens.
    """
    current = os.environ.get("QT_QPA_FONTDIR")
    if not sys.platform.startswith("linux") or not current or Path(current).is_dir():
        return
    for folder in FONT_DIRS:
        if any(Path(folder).glob("*.ttf")):
            os.environ["QT_QPA_FONTDIR"] = folder
            return


def window_closed(title: str) -> bool:
    """True once the window is gone (closed with the mouse or by the window manager)."""
    try:
        return cv2.getWindowProperty(title, cv2.WND_PROP_VISIBLE) < 1
    except cv2.error:  # Qt: the last window closed takes OpenCV's GUI state with it
        return True


def show_window(run_dir: Path, frames: list[Frame], ready_file: Path | None = None) -> None:
    """The viewer window over `frames`, until q / Esc or the window is closed.

    The trackbar holds the shown position: keys move the trackbar, and the image follows it.
    """
    use_system_fonts()
    captions = [caption(frames, i) for i in range(len(frames))]
    frame_layout = layout(image_size(frames[0].path), captions, image_box(screen_size()))
    title = Path(run_dir).name
    cv2.namedWindow(title, cv2.WINDOW_AUTOSIZE | cv2.WINDOW_GUI_NORMAL)
    last = len(frames) - 1
    if last > 0:  # (Qt refuses a trackbar with nowhere to go)
        cv2.createTrackbar(TRACKBAR, title, last, last, lambda _: None)  # starts at the result
    shown, canvas = None, None
    try:
        while True:
            position = cv2.getTrackbarPos(TRACKBAR, title) if last > 0 else 0
            if position != shown:
                canvas = render_frame(
                    _picture(frames[position].path, frame_layout.image_size),
                    captions[position],
                    frame_layout,
                )
                cv2.imshow(title, canvas[..., ::-1].copy())  # OpenCV shows BGR
                shown = position
            key = cv2.waitKeyEx(POLL_MS)
            if ready_file is not None:
                ready_file.touch()  # the window is up: tell whoever started us
                ready_file = None
            if window_closed(title):
                return
            action, target = on_key(key, position, len(frames))
            if action == "quit":
                break
            if action == "save":
                saved = save_frame(run_dir, frames[position], canvas)
                print(f"nst.cli.viewer: saved {saved}", flush=True)
            if target != position:
                cv2.setTrackbarPos(TRACKBAR, title, target)
    finally:
        cv2.destroyAllWindows()


def _picture(path: Path, size: tuple[int, int]):
    """The iterate at `path`; a grey picture (and a note) if it cannot be decoded after all:
    one bad file must not close the window."""
    try:
        return load_rgb(path, size)  # a print-sized iterate: reduced as it is read
    except Exception as error:  # Pillow raises many kinds for a damaged file
        _note(f"cannot show {path}: {str(error).strip()[:120] or type(error).__name__}")
        return np.full((size[1], size[0], 3), 128, np.uint8)


def save_frame(run_dir: Path, frame: Frame, canvas) -> Path:
    """The shown frame, caption included, as run_dir/frame_<iteration>.png."""
    path = Path(run_dir) / f"frame_{frame.iteration:06d}.png"
    buffer = io.BytesIO()
    Image.fromarray(canvas).save(buffer, format="PNG")
    write_bytes_atomic(path, buffer.getvalue())
    return path


# --- after a run: the viewer in a child process ---------------------------------------------


def open_viewer(run_dir: Path, startup_timeout_s: float = STARTUP_TIMEOUT_S) -> str | None:
    """Show the viewer in a child process until it is closed; None, or why it did not open.

    Nothing here can end the caller: the child's crash, abort or hang comes back as a message.
    """
    problem = display_problem(os.environ, sys.platform)
    if problem:
        return f"viewer not opened: {problem}"
    package_root = str(Path(__file__).resolve().parents[2])  # works from any current folder
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
    sys.stdout.flush()  # our lines first: the child writes to the same terminal
    with tempfile.TemporaryDirectory(prefix="nst-viewer-") as tmp:
        ready = Path(tmp) / "ready"
        with open(Path(tmp) / "stderr", "w+b") as errors:
            command = [
                sys.executable,
                "-m",
                "nst.cli.viewer",
                str(run_dir),
                "--ready-file",
                str(ready),
            ]
            try:
                child = subprocess.Popen(command, stdin=subprocess.DEVNULL, stderr=errors, env=env)
            except OSError as error:
                return f"viewer not opened: {error}"
            try:
                status = _wait(child, ready, startup_timeout_s)
            except KeyboardInterrupt:  # Ctrl+C closes the viewer, not the finished run
                _stop(child)
                return None
            if status is None:
                return f"viewer not opened: no window after {startup_timeout_s:g} s"
            if status == 0:
                return None
            errors.seek(0)
            why = _summary(errors.read().decode(errors="replace"), status)
            return f"viewer {'failed' if ready.exists() else 'not opened'}: {why}"


def _wait(child: subprocess.Popen, ready: Path, timeout_s: float) -> int | None:
    """The child's exit status once it ends; None if no window showed within `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while not ready.exists():
        if child.poll() is not None:
            return child.returncode
        if time.monotonic() > deadline:
            _stop(child)
            return None
        time.sleep(0.05)
    return child.wait()


def _summary(stderr: str, status: int | None) -> str:
    """One line for what the child wrote: Qt's line about the display, else the last line
    (a Python traceback's summary), else its exit status."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    about_display = [line for line in lines if "display" in line.lower()]
    if about_display:
        return about_display[0]
    return lines[-1] if lines else f"exit status {status}"


def _stop(child: subprocess.Popen) -> None:
    child.terminate()
    try:
        child.wait(timeout=5)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()


def after_run(run_dir: Path, show_viewer: bool, finished: bool = True) -> None:
    """What the command line does once a run's outputs are all on disk: the window, if asked
    and the run finished (an interrupted or failed run gets none)."""
    if not show_viewer:
        problem = "viewer off (show_viewer = false or --no-viewer)"
    elif not finished:
        problem = "viewer not opened: the run did not finish"
    else:
        problem = open_viewer(run_dir)
    if problem:
        tell(problem)
    hint = f"python -m nst.cli.viewer {shlex.quote(str(run_dir))}"
    tell(f"to scroll through the iterates again: {hint}")  # one line, whatever the name


# --- python -m nst.cli.viewer ---------------------------------------------------------------


def _note(text: str) -> None:
    print(f"nst.cli.viewer: note: {text}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m nst.cli.viewer",
        description="Scroll through a run's saved iterates: ← → Home End, s saves, q/Esc closes.",
    )
    parser.add_argument("run_dir", type=Path, help="a run folder, e.g. results/<run>")
    parser.add_argument(
        "--ready-file",
        type=Path,
        help="touched once the window is up (for programs that start the viewer)",
    )
    args = parser.parse_args(argv)
    try:
        remove_leftovers(args.run_dir)  # temporary files of a run that was killed
        frames = run_frames(args.run_dir, on_note=_note)
    except RunError as error:
        print(f"nst.cli.viewer: error: {error}", file=sys.stderr)
        return 2
    problem = display_problem(os.environ, sys.platform)
    if problem:
        animation = Path(args.run_dir) / ANIMATION
        see = f"; {animation} shows the evolution" if animation.is_file() else ""
        print(f"nst.cli.viewer: {problem}: no window can open here{see}", file=sys.stderr)
        return 2
    try:
        show_window(args.run_dir, frames, args.ready_file)
    except cv2.error as error:  # e.g. an OpenCV built without a GUI (opencv-python-headless)
        print(
            f"nst.cli.viewer: cannot open a window: {str(error).strip().splitlines()[-1]}",
            file=sys.stderr,
        )
        return 3
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
