"""braid - a Python asyncio client and worker for braid (in progress)."""

__version__ = "0.1.0"
