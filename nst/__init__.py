"""nst: neural style transfer after Gatys, Ecker & Bethge (CVPR 2016).

Importing the package does nothing but define names: no model, no download, no config.
Modules: settings -> images -> features -> losses -> optimize -> outputs / plots -> evolution
-> viewer (runfolder: the names of a run's files, shared by writers and readers).
"""
