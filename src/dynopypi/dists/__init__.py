"""dists."""
