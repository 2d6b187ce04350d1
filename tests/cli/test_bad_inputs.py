"""A corpus of bad inputs, each through `main.main` as the command line calls it (in-process:
fast): exit status 2, one line that names the cause, no traceback, no run folder made."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from nst.run import exits, preflight, still
from tests.helpers import call_main, make_image, no_run_folder, tiny_overrides
from tests.helpers.broken import corrupted, good_pair, png_header_only, truncated


@dataclass(frozen=True)
class Case:
    """`make(folder)` writes the broken input and returns extra command-line arguments."""

    make: Callable[[Path], list[str]]
    says: tuple[str, ...]  # fragments the error line must contain


def settings(*pairs: str) -> Callable[[Path], list[str]]:
    return lambda folder: [arg for pair in pairs for arg in ("--set", pair)]


def config_file(text: str) -> Callable[[Path], list[str]]:
    def make(folder: Path) -> list[str]:
        (folder / "bad.ini").write_text(text)
        return ["--config", str(folder / "bad.ini")]

    return make


def content_file(write: Callable[[Path], object], name: str) -> Callable[[Path], list[str]]:
    def make(folder: Path) -> list[str]:
        write(folder / name)
        return ["--set", f"paths.content_image={folder / name}"]

    return make


def weights_file(write: Callable[[Path], object] | None, name: str, network="vgg16"):
    def make(folder: Path) -> list[str]:
        if write is not None:
            write(folder / name)
        return ["--set", f"model.weights={folder / name}", "--set", f"model.network={network}"]

    return make


CORPUS = {
    # --- settings
    "config missing": Case(
        lambda f: ["--config", str(f / "nope.ini")], ("nope.ini does not exist",)
    ),
    "config is a folder": Case(lambda f: ["--config", str(f)], ("is a folder",)),
    "config not ini": Case(config_file("just text\n"), ("bad.ini", "not a valid INI file")),
    "unknown section": Case(
        config_file("[optimiser]\niterations = 3\n"), ("unknown section", "'[optimizer]'")
    ),
    "unknown key": Case(
        config_file("[loss]\nstyle_wieght = 3\n"), ("[loss]", "did you mean 'style_weight'")
    ),
    "wrong type": Case(
        settings("optimizer.iterations=many"), ("[optimizer] iterations = 'many'", "integer")
    ),
    "negative weight": Case(settings("loss.content_weight=-1"), ("content_weight = '-1'", ">= 0")),
    "zero iterations": Case(settings("optimizer.iterations=0"), ("iterations = '0'", ">= 1")),
    "max_size too small": Case(settings("image.max_size=8"), ("max_size = '8'", ">= 32")),
    "max_size absurd": Case(settings("image.max_size=100000"), ("max_size = '100000'", "<= 8192")),
    "beyond float32": Case(settings("loss.style_weight=1e300"), ("style_weight", "float32")),
    "layer not in network": Case(
        settings("model.network=vgg16", "model.style_layers=block3_conv4"),
        ("block3_conv4", "vgg16"),
    ),
    "layer weights length": Case(
        settings("model.style_layer_weights=1, 2"), ("expected 4 weights, one per style layer",)
    ),
    "override syntax": Case(settings("loss.style_weight"), ("expected section.key=value",)),
    # --- images
    "image missing": Case(content_file(lambda p: None, "gone.jpg"), ("gone.jpg does not exist",)),
    # a folder is a video's frames (nst.inputs.video_io): one without images says what it needs
    "image is a folder": Case(content_file(Path.mkdir, "photos"), ("photos holds no frames",)),
    "image empty": Case(content_file(Path.touch, "empty.png"), ("empty.png is an empty file",)),
    "jpeg truncated": Case(
        content_file(lambda p: truncated(p, "JPEG"), "cut.jpg"), ("cut.jpg", "truncated")
    ),
    "png truncated": Case(
        content_file(lambda p: truncated(p, "PNG"), "cut.png"), ("cut.png", "truncated")
    ),
    "png corrupt": Case(
        content_file(lambda p: corrupted(p, "PNG"), "bad.png"), ("bad.png", "damaged")
    ),
    "text named jpg": Case(
        content_file(lambda p: p.write_text("holiday photo\n"), "notes.jpg"),
        ("notes.jpg is a text file, not an image",),
    ),
    "svg": Case(
        content_file(lambda p: p.write_text('<svg xmlns="http://www.w3.org/2000/svg"/>'), "a.svg"),
        ("a.svg is an SVG drawing", "PNG or JPEG"),
    ),
    "pdf": Case(
        content_file(lambda p: p.write_bytes(b"%PDF-1.7\n%\xe2\xe3\n"), "scan.pdf"),
        ("scan.pdf is a PDF document",),
    ),
    "binary unknown": Case(
        content_file(lambda p: p.write_bytes(bytes(range(256)) * 4), "blob.tga"),
        ("blob.tga is not an image format nst can read",),
    ),
    "decompression bomb": Case(
        content_file(lambda p: png_header_only(p, 30000, 30000), "bomb.png"),
        ("bomb.png has 900 megapixels", "decompression bombs"),
    ),
    "bomb below pillow's hard limit": Case(
        content_file(lambda p: png_header_only(p, 10000, 10000), "big.png"),
        ("big.png has 100 megapixels", "safety limit of 89"),
    ),
    "too small for the poolings": Case(
        content_file(lambda p: make_image(p, 400, 10), "strip.png"),
        ("strip.png is 48x1 pixels", "at least 8 pixels", "max_size to at least 300"),
    ),
    "style image truncated": Case(
        lambda f: ["--set", f"paths.style_image={truncated(f / 'style.jpg', 'JPEG')}"],
        ("style.jpg", "truncated"),
    ),
    # --- weights (the first three are found before TensorFlow loads)
    "weights missing": Case(
        weights_file(None, "vgg.weights.h5"), ("vgg.weights.h5", "does not exist")
    ),
    "weights is a folder": Case(weights_file(Path.mkdir, "w.weights.h5"), ("is a folder",)),
    "weights garbage": Case(
        weights_file(lambda p: p.write_bytes(os.urandom(4096)), "junk.weights.h5"),
        ("junk.weights.h5: cannot load it into vgg16", "file signature not found"),
    ),
    # --- the results folder
    "results is a file": Case(
        lambda f: ["--set", f"paths.results_dir={make_image(f / 'r.png')}"],
        ("results_dir", "is a file, not a folder"),
    ),
    "results under a file": Case(
        lambda f: ["--set", f"paths.results_dir={make_image(f / 'r.png')}/runs"],
        ("results_dir", "cannot write there"),
    ),
}


def assert_one_line_error(status: int, err: str, expected_status: int, says) -> str:
    assert status == expected_status, err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.startswith("nst: error:")]
    assert len(lines) == 1, err
    for fragment in says:
        assert fragment in lines[0], lines[0]
    return lines[0]


@pytest.mark.parametrize("name", CORPUS)
def test_bad_input_is_one_line_exit_2(name, tmp_path, capsys):
    case = CORPUS[name]
    content, style = good_pair(tmp_path / "good")
    results = tmp_path / "results"
    args = [*tiny_overrides(content, style, results), *case.make(tmp_path)]
    status, _, err = call_main(capsys, args)
    assert_one_line_error(status, err, exits.EXIT_BAD_INPUT, case.says)
    assert no_run_folder(results)


def test_corpus_is_large_enough():
    assert len(CORPUS) >= 20


@pytest.fixture(scope="module")
def vgg16_weights(tmp_path_factory) -> Path:
    """A real Keras weights file of VGG16 (random values), made once for these tests."""
    import keras

    path = tmp_path_factory.mktemp("weights") / "vgg16.weights.h5"
    keras.applications.VGG16(include_top=False, weights=None).save_weights(path)
    return path


def test_weights_of_another_network(vgg16_weights, tmp_path, capsys):
    args = tiny_overrides(*good_pair(tmp_path), tmp_path / "r")
    args += ["--set", f"model.weights={vgg16_weights}", "--set", "model.network=vgg19"]
    status, _, err = call_main(capsys, args)
    assert_one_line_error(status, err, 2, ("this is a VGG16 weights file", "set network = vgg16"))


def test_truncated_weights_file(vgg16_weights, tmp_path, capsys):
    cut = tmp_path / "cut.weights.h5"
    cut.write_bytes(vgg16_weights.read_bytes()[: vgg16_weights.stat().st_size // 3])
    args = tiny_overrides(*good_pair(tmp_path), tmp_path / "r")
    args += ["--set", f"model.weights={cut}", "--set", "model.network=vgg16"]
    status, _, err = call_main(capsys, args)
    assert_one_line_error(status, err, 2, ("cut.weights.h5", "truncated file"))


@pytest.mark.slow
def test_memory_refusal_suggests_a_size_that_fits(tmp_path, capsys, monkeypatch):
    gib = 1024**3
    monkeypatch.setattr(still, "available_memory", lambda: 2 * gib)
    args = tiny_overrides(*good_pair(tmp_path), tmp_path / "r", **{"image.max_size": "4096"})
    status, _, err = call_main(capsys, args)
    line = assert_one_line_error(status, err, 2, ("4096x3072", "2,048 MB is available"))
    suggested = int(line.split("max_size to ")[1].split()[0])
    assert 32 <= suggested < 4096
    assert no_run_folder(tmp_path / "r")


def test_full_disk_is_found_before_the_run(tmp_path, capsys, monkeypatch):
    real = preflight.shutil.disk_usage
    monkeypatch.setattr(
        preflight.shutil, "disk_usage", lambda path: real(path)._replace(free=10_000)
    )
    status, _, err = call_main(capsys, tiny_overrides(*good_pair(tmp_path), tmp_path / "r"))
    assert_one_line_error(status, err, 2, ("only 0 MB free", "may write up to"))
    assert no_run_folder(tmp_path / "r")


needs_non_root = pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() == 0,
    reason="file permissions do not stop root",
)


@needs_non_root
def test_unreadable_image(tmp_path, capsys):
    content, style = good_pair(tmp_path)
    content.chmod(0)
    status, _, err = call_main(capsys, tiny_overrides(content, style, tmp_path / "r"))
    assert_one_line_error(status, err, 2, ("content.png", "permission denied"))


@needs_non_root
def test_read_only_results_folder(tmp_path, capsys):
    results = tmp_path / "r"
    results.mkdir()
    results.chmod(0o500)
    status, _, err = call_main(capsys, tiny_overrides(*good_pair(tmp_path), results))
    assert_one_line_error(status, err, 2, ("results_dir", "cannot write there"))


def test_debug_shows_the_traceback(tmp_path, capsys):
    args = ["--debug", *tiny_overrides(*good_pair(tmp_path), tmp_path / "r")]
    status, _, err = call_main(capsys, [*args, "--set", "optimizer.iterations=0"])
    assert status == 2
    assert "Traceback" in err and "SettingsError" in err
    assert "nst: error: --set [optimizer] iterations = '0'" in err
