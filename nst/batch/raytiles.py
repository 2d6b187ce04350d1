"""The tiled step (nst.core.tiles) with its tiles spread over Ray workers, one actor each.

Each actor builds the feature network once from the run's model settings (the same settings
and seed build the same weights), keeps the scale's term tensors (the targets) and owns a
contiguous run of the tiles. One step:

1. the driver preprocesses and mirrors the picture and puts it once into Ray's object store;
   every actor runs its tiles forward and returns their Gram matrices (per style term and
   layer) and content terms, summed; the driver sums them over the actors: the picture's;
2. the driver computes dL/dG once and sends it to every actor; each returns its tiles'
   gradient shares added up over the bounding box of its windows; the driver adds the boxes
   into d total / d padded picture and carries it back through the mirror to the pixels,
   where the pixel terms' gradient (computed whole, on the driver) joins it.

`RayTiles` has TiledObjective's `value_and_gradient` and `losses`, so nst.core.optimize's tiled
Adam step (Session.adam(..., tiled=...)) runs on it unchanged. Ray is imported by the caller
(nst.batch.ray.connect) and passed in. Bytes moved per step: bench/results/raytiles.md.
"""

from __future__ import annotations

import time

import numpy as np
import tensorflow as tf

from nst.core.records import Losses
from nst.core.tiles import TiledObjective, TilesInterrupted
from nst.settings import SettingsError


def to_numpy(structure):
    """Tensors (and variables) of a nested structure as numpy arrays, for Ray to ship."""
    return tf.nest.map_structure(lambda t: t.numpy() if hasattr(t, "numpy") else t, structure)


def to_tensors(structure):
    """numpy arrays of a nested structure as tensors (what the traced passes were given)."""
    return tf.nest.map_structure(
        lambda a: tf.constant(a) if isinstance(a, np.ndarray | np.generic) else a, structure
    )


def _nbytes(structure) -> int:
    return sum(getattr(a, "nbytes", 8) for a in tf.nest.flatten(structure))


def partition(windows: list, workers: int) -> list[list[int]]:
    """The tiles' numbers (row by row) in at most `workers` contiguous runs of about equal
    window area (the work of a tile grows with its window; ragged tiles are smaller)."""
    areas = np.array([h * w for _, (_, _, h, w) in windows], float)
    middles = np.cumsum(areas) - areas / 2
    owner = np.minimum((middles / areas.sum() * workers).astype(int), workers - 1)
    runs = [[int(n) for n in np.flatnonzero(owner == k)] for k in range(workers)]
    return [run for run in runs if run]


class TileWorker:
    """On a Ray worker: the objective over the tiles numbered `tiles` of a height x width
    picture, with the network of nst.core.features.build_feature_extractor(*key)."""

    def __init__(self, key: tuple, kinds: tuple, shape: tuple, side: int, tiles, inputs, threads):
        if threads:  # TensorFlow would take every core of the node for each actor
            try:
                tf.config.threading.set_intra_op_parallelism_threads(threads)
                tf.config.threading.set_inter_op_parallelism_threads(threads)
            except RuntimeError:  # this process has run TensorFlow already: as it was
                pass
        from nst.core.features import build_feature_extractor

        extractor = build_feature_extractor(*key)
        self.tiled = TiledObjective(extractor, kinds, key[0], *shape, side)
        self.tiles, self.inputs, self.padded = list(tiles), to_tensors(inputs), None

    def statistics(self, padded: np.ndarray) -> tuple:
        """Pass 1 over this worker's tiles; keeps the picture for pass 2."""
        began = time.perf_counter()
        self.padded = tf.constant(padded)
        statistics = to_numpy(self.tiled.statistics(self.padded, self.inputs, self.tiles))
        return statistics, time.perf_counter() - began

    def shares(self, slopes) -> tuple:
        """Pass 2: ((top, left) of the box of this worker's windows, its tiles' gradient shares
        added up over that box), and the seconds the worker took."""
        began = time.perf_counter()
        parts = list(self.tiled.shares(self.padded, self.inputs, to_tensors(slopes), self.tiles))
        top = min(y for (y, _, _, _), _ in parts)
        left = min(x for (_, x, _, _), _ in parts)
        bottom = max(y + h for (y, _, h, _), _ in parts)
        right = max(x + w for (_, x, _, w), _ in parts)
        box = np.zeros((1, bottom - top, right - left, self.padded.shape[-1]), np.float32)
        for (y, x, h, w), share in parts:
            box[:, y - top : y - top + h, x - left : x - left + w] += share.numpy()
        return ((top, left), box), time.perf_counter() - began


class RayTiles:
    """TiledObjective's step with its two passes run by `workers` Ray actors (module doc).
    `key`: the network's (model settings, seed, optimizer), as nst.run.process.network_key;
    `inputs`: the scale's term tensors (nst.core.objective.tensors), sent once."""

    def __init__(self, ray, extractor, key, kinds, shape, side, inputs, workers, cpus=1):
        self.ray = ray
        self.local = TiledObjective(extractor, kinds, key[0], *shape, side)
        if self.local.has_sliced():  # its value and ranks need the whole sample: not built here
            raise SettingsError(
                "[loss] style_loss = sliced or mixed steps over tiles in one process only: "
                "the tiles spread over Ray workers match the Gram loss; use style_loss = gram"
            )
        self.windows = self.local.windows
        actor = ray.remote(TileWorker).options(num_cpus=cpus)
        shipped = ray.put(to_numpy(inputs))
        self.runs = partition(self.windows, workers)
        self.moved: dict = {}  # bytes the last step moved each way (bench/raytiles.py)
        self.worker_seconds: dict = {}  # per pass, each worker's seconds in the last step
        self.actors = [
            actor.remote(key, kinds, shape, side, run, shipped, cpus) for run in self.runs
        ]

    def _statistics(self, padded: tf.Tensor) -> tuple:
        """Pass 1 on the actors: the picture's Gram matrices, content raw and value."""
        picture = padded.numpy()
        shipped = self.ray.put(picture)
        answers = self.ray.get([a.statistics.remote(shipped) for a in self.actors])
        parts, seconds = zip(*answers, strict=True)
        self.worker_seconds = {"pass 1": list(seconds)}
        self.moved = {
            "picture to each worker": picture.nbytes,
            "statistics from all workers": sum(_nbytes(part) for part in parts),
        }
        grams, raw, value = parts[0]
        for more, more_raw, more_value in parts[1:]:
            grams = tf.nest.map_structure(np.add, grams, more)
            raw, value = raw + more_raw, value + more_value
        return to_tensors(grams), tf.constant(raw, tf.float32), tf.constant(value, tf.float32)

    def losses(self, image: tf.Tensor, inputs: tuple, draw: tf.Tensor) -> Losses:
        """The objective's Losses at `image`, as TiledObjective.losses."""
        grams, content_raw, content_value = self._statistics(self.local.padded(image))
        style_raw, style_value, _ = self.local.style(grams, inputs)
        tv, pixels = self.local.pixel_terms(image, inputs, draw)
        return Losses(content_raw, style_raw, tv, content_value + style_value + pixels)

    def value_and_gradient(self, image, inputs: tuple, draw: tf.Tensor, interrupted=None) -> tuple:
        """(Losses, d total / d image) at `image`, as TiledObjective.value_and_gradient; the
        actors run a pass's tiles at once, so a stop (`interrupted()`) is honoured between the
        two passes (TilesInterrupted)."""
        with tf.GradientTape(persistent=True) as tape:
            tape.watch(image)
            padded = self.local.padded(image)
            tv, pixels = self.local.pixel_terms(image, inputs, draw)
        grams, content_raw, content_value = self._statistics(padded)
        if interrupted is not None and interrupted():
            raise TilesInterrupted
        style_raw, style_value, slopes = self.local.style(grams, inputs)
        shipped = self.ray.put(to_numpy(slopes))
        answers = self.ray.get([a.shares.remote(shipped) for a in self.actors])
        boxes, seconds = zip(*answers, strict=True)
        self.worker_seconds["pass 2"] = list(seconds)
        self.moved["dL/dG to each worker"] = _nbytes(to_numpy(slopes))
        self.moved["gradient boxes from all workers"] = sum(box.nbytes for _, box in boxes)
        gradient = np.zeros(padded.shape, np.float32)
        for (top, left), box in boxes:
            gradient[:, top : top + box.shape[1], left : left + box.shape[2]] += box
        through = tape.gradient(padded, image, output_gradients=tf.constant(gradient))
        pixel_gradient = tape.gradient(pixels, image, unconnected_gradients="zero")
        del tape
        total = content_value + style_value + pixels
        return Losses(content_raw, style_raw, tv, total), through + pixel_gradient

    def close(self) -> None:
        """End the actors (their networks and targets are freed)."""
        for actor in self.actors:
            self.ray.kill(actor)
