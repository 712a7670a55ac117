"""Training, apart from the web process: the worker and the wire it speaks.

The boundary is "commands in, events out" (``wire.py`` lists both). A worker process (``host.py``) hosts
any number of runs and trains them in turn; the web process (``app/services/pool.py``) starts the workers,
places runs on them and turns their events into what clients see. Nothing here imports the web app.
"""
