"""Running as a service: logging (what is said, and that a client cannot forge a line of
it), systemd's notifications and the Prometheus metrics (``metrics``: a registry per
server).

May import: ``errors``. Everything else may log through it.
"""
