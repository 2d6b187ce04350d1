"""Layer 5, run: one lifecycle for every front end. Checks, folder, status, stop handling,
the still picture and the clip as plug-ins, resume; `pipeline.run` and `pipeline.resume`.
"""
