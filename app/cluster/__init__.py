"""Beyond one machine: web replicas and training workers on any hosts, joined by Redis and PostgreSQL.

``BPV_BROKER_URL=redis://…`` and ``BPV_DATABASE_URL=postgresql://…`` turn it on (docs/deploy.md). Redis is
the bus (``bus.py``): the run registry, commands to workers, every epoch's events in a stream per run, the
newest snapshot per run, worker heartbeats. PostgreSQL is the store (``pgstore.py``: the same tables and the
same code as SQLite's). ``backprop-viz worker`` (``worker.py``) trains, writes what its runs produce and
takes over the runs of a worker that stopped; ``backprop-viz serve`` (``replica.py``) answers REST and
WebSocket clients exactly as a single server does.
"""
