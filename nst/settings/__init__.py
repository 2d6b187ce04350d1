"""Layer 1, settings: config.ini and --set parsed once into frozen, typed dataclasses.

Every default lives in `schema`; nothing here imports TensorFlow or anything else of nst.
"""

from nst.settings.args import add_settings_arguments
from nst.settings.kinds import (
    MAX_SIDE,
    PHOTO,
    WEIGHTS_CHOICES,
    Choice,
    FilePath,
    Flag,
    ListOf,
    Number,
    NumberOr,
    SettingsError,
    Weights,
)
from nst.settings.load import load_run_settings, load_settings, parse_override
from nst.settings.naming import TAG_LENGTH, run_tag
from nst.settings.render import render
from nst.settings.schema import (
    SECTIONS,
    BatchSettings,
    ImageSettings,
    LossSettings,
    ModelSettings,
    OptimizerSettings,
    OutputSettings,
    PathsSettings,
    Settings,
    VideoSettings,
)

__all__ = [
    "MAX_SIDE",
    "PHOTO",
    "SECTIONS",
    "TAG_LENGTH",
    "WEIGHTS_CHOICES",
    "BatchSettings",
    "Choice",
    "FilePath",
    "Flag",
    "ImageSettings",
    "ListOf",
    "LossSettings",
    "ModelSettings",
    "Number",
    "NumberOr",
    "OptimizerSettings",
    "OutputSettings",
    "PathsSettings",
    "Settings",
    "SettingsError",
    "VideoSettings",
    "Weights",
    "add_settings_arguments",
    "load_run_settings",
    "load_settings",
    "parse_override",
    "render",
    "run_tag",
]
