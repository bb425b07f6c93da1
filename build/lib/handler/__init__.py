"""reghook: the governance layer between model training and model serving.

The web app (:mod:`handler.web`) verifies, stores and acknowledges webhook
deliveries; the worker (:mod:`handler.worker`) turns stored events into
governed model versions. See README.md for the module map.
"""

__version__ = "0.1.0"
