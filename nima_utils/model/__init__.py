"""Model stage: the NIMA network and everything that describes, stores and runs it.

`network` builds backbone -> dropout -> 10-way softmax, `losses` has the EMD loss, `metrics` the
paper's metrics on score distributions, `card` the model card (how a weights file must be fed),
`weights` loads, saves, finds and fingerprints weights files, `engine` runs a model (Keras or LiteRT).
"""

from nima_utils._exports import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "build_nima": "network", "build_from_card": "network",
    "emd_loss": "losses",
    "mean_score": "metrics", "std_score": "metrics", "emd": "metrics", "srcc": "metrics", "lcc": "metrics",
    "ModelCard": "card", "read_card": "card", "write_card": "card", "community_card": "card",
    "load_nima": "weights", "save_nima": "weights", "default_weights": "weights", "fingerprint": "weights",
    "WeightsError": "weights",
    "load_engine": "engine", "export_tflite": "engine", "Engine": "engine", "KerasEngine": "engine",
})
