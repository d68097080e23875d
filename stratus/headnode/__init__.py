"""The composition root: the one place that assembles a running head node from its parts."""
