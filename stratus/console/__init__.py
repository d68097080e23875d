"""The web console's front door on the head node: JSON views of one cluster and its job actions.

``stratus serve`` (:mod:`stratus.web.console`) shows these to a browser; the routes themselves
(:mod:`stratus.console.routes`) read and act only through the cluster service.
"""
