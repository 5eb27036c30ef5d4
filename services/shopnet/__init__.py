"""shopnet: one e-commerce microservice stack, run on Linux namespaces and on Docker."""

__version__ = "0.1.0"
