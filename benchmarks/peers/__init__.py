"""Peer frameworks the benchmarks compare Flask-SockReq with, each in a
directory of its own (``sails/``) with a stdlib-only Python module that
installs and runs it (``sails.py``)."""
