"""Reversible encoders built from a Domain only: one row per patient (``table``) or a patient's
visits padded to a fixed width (``sequence``)."""
