"""Providers: how nodes get machines (see ``base`` for the interface, ``registry`` for the lookup)."""
