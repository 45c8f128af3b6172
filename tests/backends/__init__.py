"""Index factories for the contract suite: one module per backend, each with `make_index(name)`.

A backend module may raise `pytest.skip` only when its service is explicitly optional; in CI
every backend here runs against a real server or an in-process/emulated service.
"""

BACKENDS = ["local", "redis", "qdrant", "pinecone"]
