"""Fewer multiplications per convolution: Winograd F(2x2, 3x3) written in TensorFlow ops,
against TensorFlow's own convolution (oneDNN on x86), forward and gradient to the input.

python -m bench.winograd [--repeats 5] [--sizes 384x512x64,192x256x128,...]

Why: our float32 step and the tutorial's run the same convolutions, so a step well below
the tutorial's needs convolutions that do less work. Winograd's F(2x2, 3x3) needs 16
multiplications per 2x2 output tile where a direct 3x3 convolution needs 36 (2.25x fewer):
a transform of the input tiles, one batched matrix product per tile position, a transform
back. This prints, per VGG layer shape: both times, their ratio (below 1: Winograd faster),
the largest difference from TensorFlow's result, and a plain matrix product's GFLOP/s, the
speed Winograd's products can at most reach here.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

# F(2x2, 3x3) (Lavin & Gray 2016): y = A^T [(G g G^T) * (B^T d B)] A for a 4x4 input tile d.
KERNEL_TRANSFORM = np.array([[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]])
# VGG's 3x3 layers at a 512x384 image: (height, width, channels in = channels out).
VGG_SHAPES = "384x512x64,192x256x128,96x128x256,48x64x512"


def transformed_kernel(kernel: np.ndarray) -> np.ndarray:
    """(3, 3, C, K) -> (16, C, K): G g G^T for each input/output channel pair."""
    g = KERNEL_TRANSFORM
    return np.einsum("ai,ijck,bj->abck", g, kernel, g).reshape(16, *kernel.shape[2:])


def _tile_transform(even, odd, axis: int) -> list:
    """B^T d along `axis` for tiles of 4 starting at every even index: rows 2t..2t+3 are
    even[t], odd[t], even[t+1], odd[t+1]; B^T's four rows are additions of those."""

    def part(t, start):
        end = start + t.shape[axis] - 1
        return t[start:end] if axis == 0 else t[:, start:end]

    e0, e1, o0, o1 = part(even, 0), part(even, 1), part(odd, 0), part(odd, 1)
    return [e0 - e1, o0 + e1, e1 - o0, o0 - o1]


def winograd_conv(x, kernel16):
    """tf.nn.conv2d(x, kernel, 1, "SAME") for a 3x3 kernel given as transformed_kernel(kernel);
    x: (1, height, width, C) with static shape."""
    import tensorflow as tf

    _, height, width, channels = x.shape
    outputs = kernel16.shape[-1]
    rows, cols = -(-height // 2), -(-width // 2)  # output tiles
    padded = tf.pad(x, [[0, 0], [1, 2 * rows + 1 - height], [1, 2 * cols + 1 - width], [0, 0]])
    pairs = tf.reshape(padded, [rows + 1, 2, 2 * cols + 2, channels])
    tiles = []
    for along_rows in _tile_transform(pairs[:, 0], pairs[:, 1], 0):
        pairs_c = tf.reshape(along_rows, [rows, cols + 1, 2, channels])
        tiles += _tile_transform(pairs_c[:, :, 0], pairs_c[:, :, 1], 1)
    products = tf.matmul(tf.reshape(tf.stack(tiles), [16, -1, channels]), kernel16)
    m = tf.reshape(products, [4, 4, rows, cols, outputs])
    by_row = [m[0] + m[1] + m[2], m[1] - m[2] - m[3]]  # A^T along the tile's rows
    out_rows = [tf.stack([r[0] + r[1] + r[2], r[1] - r[2] - r[3]], 2) for r in by_row]
    y = tf.reshape(tf.stack(out_rows, 1), [1, 2 * rows, 2 * cols, outputs])
    return y[:, :height, :width]


def _median_seconds(function, repeats: int) -> float:
    function()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def forward_and_input_gradient(convolution, x, weights_of_output):
    """A traced function: (y, d sum(y * r) / d x), what a step asks of each layer."""
    import tensorflow as tf

    @tf.function
    def both():
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = convolution(x)
            loss = tf.reduce_sum(y * weights_of_output)
        return y, tape.gradient(loss, x)

    return both


def compare(height: int, width: int, channels: int, repeats: int, seed: int = 0) -> dict:
    """Direct and Winograd convolution at one shape: seconds, ratio, largest difference."""
    import tensorflow as tf

    rng = np.random.default_rng(seed)
    x = tf.constant(rng.standard_normal((1, height, width, channels)), tf.float32)
    kernel = rng.standard_normal((3, 3, channels, channels)) / np.sqrt(9 * channels)
    r = tf.constant(rng.standard_normal((1, height, width, channels)), tf.float32)
    direct_kernel = tf.constant(kernel, tf.float32)
    kernel16 = tf.constant(transformed_kernel(kernel), tf.float32)
    direct = forward_and_input_gradient(lambda t: tf.nn.conv2d(t, direct_kernel, 1, "SAME"), x, r)
    winograd = forward_and_input_gradient(lambda t: winograd_conv(t, kernel16), x, r)
    (y_d, g_d), (y_w, g_w) = direct(), winograd()
    error = max(
        float(tf.reduce_max(tf.abs(a - b)) / tf.reduce_max(tf.abs(a)))
        for a, b in ((y_d, y_w), (g_d, g_w))
    )
    seconds_d = _median_seconds(lambda: [t.numpy() for t in direct()], repeats)
    seconds_w = _median_seconds(lambda: [t.numpy() for t in winograd()], repeats)
    return {"direct_s": seconds_d, "winograd_s": seconds_w, "relative_error": error}


def matmul_gflops(size: int, repeats: int) -> float:
    """A plain size x size float32 matrix product's GFLOP/s here."""
    import tensorflow as tf

    a = tf.random.normal((size, size))
    product = tf.function(lambda: tf.matmul(a, a))
    return 2 * size**3 / _median_seconds(lambda: product().numpy(), repeats) / 1e9


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--sizes", default=VGG_SHAPES, help="HxWxC,...")
    parser.add_argument("--matmul", type=int, default=4096, help="side of the plain product")
    args = parser.parse_args(argv)
    print("| layer shape | direct s | Winograd s | Winograd / direct | largest rel. difference |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for shape in args.sizes.split(","):
        height, width, channels = (int(v) for v in shape.split("x"))
        c = compare(height, width, channels, args.repeats)
        print(
            f"| {shape} | {c['direct_s']:.3f} | {c['winograd_s']:.3f} | "
            f"{c['winograd_s'] / c['direct_s']:.2f} | {c['relative_error']:.1e} |"
        )
    gflops = matmul_gflops(args.matmul, args.repeats)
    print(f"\nplain {args.matmul}x{args.matmul} matrix product: {gflops:.0f} GFLOP/s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
