"""nst: neural style transfer after Gatys, Ecker & Bethge (CVPR 2016).

Importing the package does nothing but define names: no model, no download, no config.
`nst.app.run(settings)` is the one run function; README "Layout" lists every module.
"""
