"""Model stage: the NIMA network and everything that describes, stores and runs it.

`backbones` is the table of backbones (Keras application, pixel scaling, input sizes, ImageNet file;
no TensorFlow), `network` builds backbone -> dropout -> 10-way softmax, `losses` has the EMD loss,
`metrics` the paper's metrics on score distributions (their one vocabulary, the trivial baseline),
`card` the model card (how a weights file must be fed), `weights` loads, saves, finds and fingerprints
weights files, `engine` runs a model (Keras or LiteRT).
"""

from nima_utils._exports import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "BACKBONES": "backbones", "Backbone": "backbones",
    "build_nima": "network", "build_from_card": "network",
    "emd_loss": "losses",
    "mean_score": "metrics", "std_score": "metrics", "emd": "metrics", "srcc": "metrics", "lcc": "metrics",
    "normalize": "metrics", "trivial_prediction": "metrics", "METRICS": "metrics", "THRESHOLDS": "metrics",
    "ModelCard": "card", "read_card": "card", "write_card": "card", "community_card": "card",
    "load_nima": "weights", "save_nima": "weights", "default_weights": "weights", "fingerprint": "weights",
    "WeightsError": "weights",
    "load_engine": "engine", "export_tflite": "engine", "Engine": "engine", "KerasEngine": "engine",
})
