"""The command line's operations block: ``run``'s metrics and quota flags (one group).

Quotas per project glob come from the TOML file (``quota_overrides``) or
``DYNOPYPI_QUOTA_OVERRIDES``: a table does not fit a flag.
"""

from __future__ import annotations

import argparse

OPERATIONS_FLAGS = ("metrics", "metrics_listen", "quota_project", "quota_total")


def operations_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("metrics and quotas")
    g.add_argument(
        "--no-metrics",
        dest="metrics",
        action="store_const",
        const=False,
        help="no /metrics at all, and no counting (default: /metrics for any account of "
        "-P/--passwords, and on --metrics-listen)",
    )
    g.add_argument(
        "--metrics-listen",
        metavar="HOST:PORT",
        help="also serve /metrics, without accounts, on this address of its own (e.g. "
        "127.0.0.1:9108): one that only Prometheus reaches",
    )
    g.add_argument(
        "--quota-project",
        metavar="SIZE",
        help="most bytes one project may hold, e.g. 5G; an upload past it is refused with "
        "507 (per-project globs: quota_overrides in --config)",
    )
    g.add_argument(
        "--quota-total",
        metavar="SIZE",
        help="most bytes the whole index may hold, e.g. 500G (507 past it)",
    )
