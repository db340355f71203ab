"""Helpers shared by the test modules, imported as ``support.*`` (``pythonpath = ["tests"]``).

Fixtures stay in ``tests/conftest.py``; what lives here is plain code that several test
modules need: accounts and sites, servers (a subprocess, in this process, over a bucket),
clients (HTTP and pip/uv/twine), sockets and addresses, upload bodies, hostile archives and
attackers, snapshots of package directories, nginx built from the shipped site files,
SeaweedFS, podman. Every helper that starts a process refuses to in a unit run
(``support.processes.forbidden_in_unit_run``).
"""
