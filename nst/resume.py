"""Former home of `resume_run`, now nst.pipeline.resume (a still picture or a clip): the name
stays until the Ray engine imports it from there."""

from nst.pipeline import resume as resume_run

__all__ = ["resume_run"]
