"""Student submissions with known scores (see variants.py)."""
