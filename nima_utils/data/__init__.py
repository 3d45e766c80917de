"""Data stage (notebook 01): AVA from download to a training cache.

labels (`ava`) -> sources (`sources`, with notebook 01's `DataParameters`), downloaded over HTTP
(`download`) and unpacked (`archives`) -> verify and quarantine (`cleanup`) -> splits (`splits`, whole
groups per split where a source has `groups.csv`) ->
label statistics and their figure (`label_stats`) -> the TFRecord training cache (`cache`); `summary`
reads the summary.json notebook 01 ends with; `demo` builds the embedded demo dataset (crops and edits
of the real photographs of `sample_images`, one group per photo, test photos by a fixed rule).
"""

from nima_utils._exports import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "read_labels": "ava", "read_ava_txt": "ava", "read_votes_csv": "ava", "read_image_list": "ava",
    "distributions": "ava", "is_plain_id": "ava", "Labels": "ava",
    "fetch_source": "sources", "check_parameters": "sources", "AvaFiles": "sources",
    "download_file": "download", "download_many": "download", "DownloadError": "download",
    "extract": "archives", "fetch_archives": "archives", "ArchiveError": "archives",
    "clean_labels": "cleanup", "image_path": "cleanup", "CleanupResult": "cleanup",
    "make_split": "splits", "write_split": "splits", "read_split": "splits", "read_groups": "splits",
    "build_cache": "cache", "cache_dataset": "cache", "training_dataset": "cache", "read_manifest": "cache",
    "label_stats": "label_stats", "label_stats_figure": "label_stats",
    "DataSummary": "summary", "read_data_summary": "summary", "DataParameters": "sources",
    "make_demo_dataset": "demo", "sample_photos": "sample_images",
})
