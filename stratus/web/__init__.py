"""``stratus serve``: ParallelCluster's REST API and a web console for every cluster of a home.

A front door over the same operations as the CLI (:mod:`stratus.cli.clusters`: one
implementation of each verb), served by one process for all the clusters of a
``STRATUS_HOME``: ``auth.py`` (who may call it: the home's serve token, as a bearer token or a
login session), ``pcluster.py`` (the ``/v3/clusters`` routes in pcluster's shapes, errors and
status codes), ``app.py`` (the application, its OpenAPI document and the console's pages).
"""
