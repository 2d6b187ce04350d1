"""Former home of the run function, now nst.pipeline (the lifecycle), nst.still (a still
picture) and nst.watchers (Watcher): these names stay until the web studio, the sweep and the
Ray engine import them from there. `prepare_images` is now `pipeline.check`: the checks of a
run of either kind, a still picture or a clip."""

from nst.pipeline import check as prepare_images
from nst.pipeline import run
from nst.process import build_extractor
from nst.watchers import Watcher

__all__ = ["Watcher", "build_extractor", "prepare_images", "run"]
