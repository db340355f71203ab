"""Running as a service: logging (what is said, and that a client cannot forge a line of
it) and systemd's notifications.

May import: ``errors``. Everything else may log through it.
"""
