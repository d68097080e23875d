"""Prometheus metrics of a cluster (``Stratus.Metrics``): the Slurm exporters' names and stratus's own.

``collector.py`` computes them from the cluster's service at each scrape; ``app.py`` serves them
on a port of the head node's own, behind a bearer token unless the administrator opens it.
"""
