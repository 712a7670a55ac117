"""Imported by every Python process started with this directory on PYTHONPATH (``site`` imports
``sitecustomize``): the training workers of a test server then carry faulty_app's poisoned core."""

import faulty_app

faulty_app.install()
