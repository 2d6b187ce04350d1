"""nst: neural style transfer after Gatys, Ecker & Bethge (CVPR 2016).

Importing the package does nothing but define names: no model, no download, no config.
`nst.run.pipeline.run(settings)` is the one run function (a still picture or a clip) and
`nst.run.pipeline.resume(run_dir)` goes on with an interrupted one. The packages are layers,
each importing only from those below it: settings, inputs, core, output, run, cli, batch, web.
"""
