"""backprop-viz: the web app (FastAPI) around backprop_core."""

__version__ = "0.1.0"
