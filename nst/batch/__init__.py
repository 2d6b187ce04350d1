"""Layer 7, batch: many runs from one plan (photo collections, sweeps as grids), run
locally or on Ray, with an index CSV and a contact sheet.
"""
