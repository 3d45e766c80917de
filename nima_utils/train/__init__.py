"""Training stage (notebook 02, `nima train`): a NIMA run from a validated `TrainConfig`.

`config` holds the settings, their checks and named presets (no Keras import), `assemble` fills them
from notebook 01's summary.json, `loop` trains with the EMD loss, two
learning rates and resumable checkpoints, `distribute` picks devices, precision and tf.distribute
strategy, `figures` draws the learning curves, `cli` is `nima train`.
"""

from nima_utils._exports import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "TrainConfig": "config", "PRESETS": "config", "assemble": "assemble", "learning_curves": "figures",
    "train": "loop", "TrainResult": "loop", "validation_report": "loop",
    "placement": "distribute", "set_precision": "distribute",
})
