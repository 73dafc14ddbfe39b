"""Data files shipped with the package (composers.csv), read with importlib.resources."""
