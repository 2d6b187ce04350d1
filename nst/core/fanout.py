"""Copies of a tensor whose gradients are summed in one fixed order, so a run repeats.

Where a tensor feeds several ops, autodiff sums their gradients with one AddN. Grappler's
memory optimiser (which TensorFlow 2 offers no switch for) may rewrite a large AddN into a
temporary buffer that each input is added to **in the order the inputs arrive**: with three
or more inputs that overlap, the last bit of the sum then varies from call to call, and after
a hundred steps the picture differs visibly. That happened to the picture, which feeds the
network, the tv term and the face term (bench/results/repeatable.md). Each consumer takes its
own copy here; in a traced step the copies' gradients are stacked and summed, an op Grappler
leaves alone (eagerly, as the tiled pixel terms run, they are added one after another: no
stacked copy of a print-sized picture).
"""

from __future__ import annotations

import tensorflow as tf


def fan_out(x: tf.Tensor, count: int) -> tuple:
    """`count` copies of `x`, one per consumer; their gradients summed in the copies' order."""
    if count == 1:
        return (x,)

    @tf.custom_gradient
    def copies(x):
        def gradient(*upstream):
            parts = [g for g in upstream if g is not None]  # a copy nothing read: None or 0
            if tf.executing_eagerly():  # no Grappler: plain additions in order, no stack
                total = parts[0]
                for part in parts[1:]:
                    total = total + part
                return total
            return tf.reduce_sum(tf.stack(parts), axis=0)

        return tuple(tf.identity(x) for _ in range(count)), gradient

    return tuple(copies(x))
