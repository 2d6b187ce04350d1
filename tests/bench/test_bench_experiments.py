"""The experiment benches: bench.winograd's convolution computes TensorFlow's 'same' 3x3
convolution (forward and gradient), so its timings compare equal work; bench.full_scale
replays every variant from one start."""

import numpy as np
import pytest
import tensorflow as tf

from bench.winograd import compare, transformed_kernel, winograd_conv


@pytest.mark.parametrize("height, width", [(6, 8), (7, 5), (1, 3)])
def test_winograd_convolution_equals_tensorflows(height, width):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((1, height, width, 3)).astype(np.float32)
    kernel = rng.standard_normal((3, 3, 3, 4)).astype(np.float32)
    expected = tf.nn.conv2d(x, kernel, 1, "SAME").numpy()
    got = winograd_conv(tf.constant(x), tf.constant(transformed_kernel(kernel), tf.float32))
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-5, atol=1e-5)


def test_the_comparison_reports_both_timings_and_agreement():
    result = compare(10, 12, 8, repeats=1)
    assert result["direct_s"] > 0 and result["winograd_s"] > 0
    assert result["relative_error"] < 1e-5  # gradients included


@pytest.mark.slow
def test_the_full_size_replay_runs_every_variant_from_one_start(image_pair, capsys):
    from bench.full_scale import main

    content, style = image_pair
    argv = [str(content), str(style), "--weights", "random", "--size", "64", "--scales", "2"]
    argv += ["--set", "optimizer.coarse_iterations=2", "--steps", "3", "--checks", "1"]
    argv += ["--variants", "Adam=optimizer.learning_rate=5;L-BFGS=optimizer.name=lbfgs"]
    assert main(argv) == 0
    table = capsys.readouterr().out
    assert "coarse scales: 3 steps" in table  # 2 steps and the scale's result
    for variant, step in [("Adam", 1), ("Adam", 3), ("L-BFGS", 1), ("L-BFGS", 3)]:
        assert f"| {variant} | {step} |" in table
    assert "| Adam | 3 |" in table and table.split("| Adam | 3 |")[1].split("\n")[0].endswith(
        "| 0.0/255 |"
    )  # the first variant's last image is the reference


def test_the_pictures_bench_runs_every_pair_under_every_variant(image_pair, tmp_path, capsys):
    import json

    from PIL import Image

    from bench.pictures import main

    content, style = image_pair
    out = tmp_path / "pictures"
    main(
        ["--weights", "random", "--pair", f"{content}:{style}", "--size", "48", "--out", str(out),
         "--variant", "before=optimizer.iterations=2;image.parameterization=pixels",
         "--variant", "after=optimizer.iterations=2", "--sheet-height", "40"]
    )  # fmt: skip
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["variant"] for line in lines] == ["before", "after"]
    assert all(line["steps"] == [2] for line in lines)
    for name in ("before", "after"):
        assert Image.open(out / f"content_style__{name}.png").size == (48, 36)
    sheet = Image.open(out / "sheet_content_style.png")
    assert sheet.height == 40 + 18 and sheet.width > 4 * 40  # photo, painting and two results


def test_the_repeatable_bench_prints_both_modes_and_their_ratio(image_pair, capsys):
    import json

    from bench.repeatable import main

    content, style = image_pair
    main(
        ["--weights", "random", "--pair", f"{content}:{style}", "--size", "48", "--rounds", "2",
         "--set", "optimizer.iterations=2"]
    )  # fmt: skip
    lines = capsys.readouterr().out.splitlines()
    modes = [json.loads(line) for line in lines[:2]]
    assert [m["mode"] for m in modes] == ["fanned (nst)", "addn (autodiff's sum)"]
    assert modes[0]["largest_difference"] == 0.0  # repeated bit for bit
    assert all(m["cpu_s_per_step"] > 0 for m in modes)
    assert lines[2].startswith("CPU per step, fanned / addn: ")


def test_the_padding_bench_prints_every_padding_against_zeros(capsys):
    from bench.padding import PADDINGS, main

    main(["--size", "40x32", "--rounds", "1", "--steps", "1"])
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines[1:]] == list(PADDINGS)
    assert lines[1].endswith("1.00x")


@pytest.mark.slow
def test_the_style_loss_bench_prints_each_loss_with_and_without_a_mask_against_gram(capsys):
    from bench.style_loss import VARIANTS, main

    main(["--size", "40", "--rounds", "1", "--steps", "1"])
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines[1:]] == list(VARIANTS)
    assert lines[1].endswith("1.00x")
    assert all(float(line.split()[1]) > 0 for line in lines[1:])
