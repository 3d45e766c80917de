"""Serving stage (`nima serve`): the FastAPI scoring service and its web page.

`app` builds the service (single and batch uploads, micro-batched inference, hard limits),
`guards` protects its connections (slow, endless or oversized clients), `decode_queue` lets
requests take turns at the decode threads.
"""

from nima_utils._exports import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "create_app": "app", "serve": "app", "ServiceConfig": "app", "Limits": "app",
})
