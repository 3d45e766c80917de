"""NIMA Lab: train, study and serve NIMA (Neural IMage Assessment, Talebi & Milanfar 2018).

Submodules are imported on demand so that `import nima_utils` stays cheap (no TensorFlow).
"""

__version__ = "0.1.0"
