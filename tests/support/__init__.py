"""Helpers shared by the test modules, imported as ``support.*`` (``pythonpath = ["tests"]``).

Fixtures stay in ``tests/conftest.py``; what lives here is plain code that several test
modules need: accounts, client processes, sockets and addresses, upload bodies, snapshots
of package directories, and nginx built from the shipped site files.
"""
