"""symcorpus: symbolic-music training corpora, from files to a trained generator."""

__version__ = "0.1.0"
