"""Layer 6, the command line's pieces: the progress bar, start-up checks, the allocator,
and the OpenCV viewer that scrolls through a run's saved iterates.
"""
