"""Writing settings back as a commented config.ini that `load_settings` reads to the same."""

from __future__ import annotations

from dataclasses import fields

from nst.settings.schema import Settings

# --- writing ------------------------------------------------------------------------------

HEADER = """\
# nst settings. Edit, then run `python main.py` (or `python main.py --config FILE`).
# Any key can also be set for one run: `python main.py --set loss.style_weight=30`.
# Relative paths are relative to this file's folder.
"""


def render(settings: Settings) -> str:
    """The settings as a commented config.ini that `load_settings` reads back to the same."""
    lines = [HEADER]
    for section_field in fields(settings):
        section = getattr(settings, section_field.name)
        lines.append(f"[{section_field.name}]")
        for f in fields(section):
            lines.append(f"# {f.metadata['doc']}")
            text = f.metadata["kind"].format(getattr(section, f.name))
            lines.append(f"{f.name} = {text}".rstrip())
        lines.append("")
    return "\n".join(lines)
