"""Layer 3, core: the algorithm. Features, losses, the objective as named terms, the loop.

`optimize.stylize` yields one record per iteration and does no IO; everything above it is an edge.
"""
