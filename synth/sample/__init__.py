"""Sampling: rows from a fitted generator (``draw.py``), decoded to Arrow batches at the
metadata's precision (``arrow_{rows,cells,visits}.py``, ``precision.py``), written as the
synthetic CSV (``csv_out.py``), and the synthesizer's sampling methods (``face.py``).

Post-processing only: everything here reads the fitted model (the generator, the encoder, the
released domain, the public metadata), never real data, and a user seed may fix the draws.
What would void the guarantee: any module here reaching the training data or a fit's noise.
"""
