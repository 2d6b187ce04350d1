"""Layer 4, output: the run folder and what is written in it (pictures, losses, plots,
checkpoints, the evolution of iterates, contact sheets), always atomically.
"""
