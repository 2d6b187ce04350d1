"""nst: neural style transfer after Gatys, Ecker & Bethge (CVPR 2016).

Importing the package does nothing but define names: no model, no download, no config.
`nst.pipeline.run(settings)` is the one run function (a still picture or a clip) and
`nst.pipeline.resume(run_dir)` goes on with an interrupted one; docs/layout.md lists every module.
"""
