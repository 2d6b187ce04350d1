"""Layer 2, inputs: reading what a user gives (photos, paintings, masks, clips, optical flow).

Pictures come in as float arrays in 0..255 with their colours and regions; no network here.
"""
