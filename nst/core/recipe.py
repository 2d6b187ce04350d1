"""What the loop reads of the settings: four sections and how often it keeps an image.

`stylize` takes a `Recipe`, not the whole `Settings`: paths, batch and video belong to the
edges, and an edge that steers the loop (a video frame's budget) says so in the recipe.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from nst.settings import ImageSettings, LossSettings, ModelSettings, OptimizerSettings, Settings


@dataclass(frozen=True)
class Recipe:
    """[model], [loss], [optimizer], [image] and [output] save_every, as the loop uses them."""

    model: ModelSettings
    loss: LossSettings
    optimizer: OptimizerSettings
    image: ImageSettings
    save_every: int

    @classmethod
    def of(cls, settings: Settings) -> Recipe:
        return cls(
            settings.model,
            settings.loss,
            settings.optimizer,
            settings.image,
            settings.output.save_every,
        )

    def with_budget(self, iterations: int) -> Recipe:
        """`iterations` steps at one size, keeping only the result's image (a video frame)."""
        return dataclasses.replace(
            self,
            optimizer=dataclasses.replace(self.optimizer, iterations=iterations),
            image=dataclasses.replace(self.image, scales=1),  # auto: one size per frame
            save_every=iterations,
        )
