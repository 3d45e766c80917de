"""NIMA Lab: train, study and serve NIMA (Neural IMage Assessment, Talebi & Milanfar 2018).

Stages as subpackages (data, model, train, study, pipeline, serve); beside them `images` (decoding
and the model's view of a photo), `scoring` (batch scoring), `params` (the one way notebook parameters
are checked), `paths` and `cli`. Submodules are imported on demand so that `import nima_utils` stays
cheap (no TensorFlow).
"""

__version__ = "0.1.0"
