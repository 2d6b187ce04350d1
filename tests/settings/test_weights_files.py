"""A weights file's network is recognised from its layers before TensorFlow loads: weights of
VGG16 with network = vgg19 (or the other way) is one line that says which to set."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from nst.settings.networks import (
    WeightsError,
    check_weights_file,
    conv_layer_names,
    network_of_weights,
)
from tests.helpers import ROOT, VGG16_WEIGHTS, needs_vgg16


def keras3_file(path: Path, network: str) -> Path:
    """The layout of Keras 3's save_weights (layers/<layer>/vars/0 the kernel, 1 the bias),
    with 1-channel kernels: only the layers' count and kernel shapes matter here."""
    with h5py.File(path, "w") as file:
        for i, name in enumerate(conv_layer_names(network)):
            group = file.create_group(f"layers/conv2d_{i}/vars")
            group.attrs["name"] = name
            group.create_dataset("0", data=np.zeros((3, 3, 1, 1), np.float32))
            group.create_dataset("1", data=np.zeros((1,), np.float32))
        file.create_group("layers/max_pooling2d/vars")
    return path


def legacy_file(path: Path, network: str) -> Path:
    """The layout of Keras' own downloads (vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5):
    a group per layer, named after it, with `layer_names` and `weight_names` attributes."""
    names = conv_layer_names(network)
    with h5py.File(path, "w") as file:
        file.attrs["layer_names"] = [b"input_1", *(n.encode() for n in names)]
        for name in names:
            group = file.create_group(name)
            group.attrs["weight_names"] = [f"{name}_W_1:0".encode(), f"{name}_b_1:0".encode()]
            group.create_dataset(f"{name}_W_1:0", data=np.zeros((3, 3, 1, 1), np.float32))
            group.create_dataset(f"{name}_b_1:0", data=np.zeros((1,), np.float32))
    return path


@pytest.mark.parametrize("write", [keras3_file, legacy_file], ids=["keras3", "legacy"])
@pytest.mark.parametrize("network", ["vgg16", "vgg19"])
def test_the_network_is_recognised_from_the_layers(tmp_path, write, network):
    path = write(tmp_path / "w.h5", network)
    assert network_of_weights(path) == network
    assert check_weights_file(network, str(path)) == path  # the matching network passes


@pytest.mark.parametrize("write", [keras3_file, legacy_file], ids=["keras3", "legacy"])
@pytest.mark.parametrize("found, asked", [("vgg16", "vgg19"), ("vgg19", "vgg16")])
def test_the_other_networks_file_says_what_to_set(tmp_path, write, found, asked):
    path = write(tmp_path / "w.h5", found)
    with pytest.raises(WeightsError) as error:
        check_weights_file(asked, str(path))
    text = str(error.value)
    assert f"this is a {found.upper()} weights file" in text
    assert f"set network = {found}" in text and f"(now {asked})" in text


def test_files_it_cannot_tell_are_left_to_the_loader(tmp_path):
    """Garbage, a cut file and an HDF5 file of some other network: no guess, no error here
    (loading it says what is wrong, as before)."""
    garbage = tmp_path / "garbage.h5"
    garbage.write_bytes(np.random.default_rng(0).bytes(4096))
    whole = keras3_file(tmp_path / "whole.h5", "vgg19")
    cut = tmp_path / "cut.h5"
    cut.write_bytes(whole.read_bytes()[:300])
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as file:
        for i in range(5):
            file.create_dataset(f"conv{i}", data=np.zeros((3, 3, 1, 1), np.float32))
    for path in (garbage, cut, other):
        assert network_of_weights(path) is None, path
        assert check_weights_file("vgg19", str(path)) == path


@needs_vgg16
def test_the_real_vgg16_file_is_recognised():
    assert network_of_weights(VGG16_WEIGHTS) == "vgg16"
    with pytest.raises(WeightsError, match=r"this is a VGG16 weights file.*set network = vgg16"):
        check_weights_file("vgg19", str(VGG16_WEIGHTS))


def test_recognised_without_tensorflow(tmp_path):
    """The check runs before the network is built: it must not load TensorFlow (seconds)."""
    path = keras3_file(tmp_path / "w.h5", "vgg16")
    code = (
        "import sys\n"
        "from nst.settings.networks import WeightsError, check_weights_file\n"
        f"try:\n    check_weights_file('vgg19', {str(path)!r})\n"
        "except WeightsError as error:\n    print(error)\n"
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert "set network = vgg16" in done.stdout
