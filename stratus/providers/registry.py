"""Which provider launches which nodes: built from a cluster's configuration.

Every compute resource (``queue/name``, the engine's ``NodeDef.group``) is launched by one
provider. A compute resource without ``Provider`` uses the ``local`` kind; one that names a
``Stratus.Providers`` entry uses that entry's provider (an :class:`~stratus.providers.ssh.SshProvider`
for type ``ssh``, an :class:`~stratus.providers.ec2.Ec2Provider` for type ``ec2``). Callers never
construct a provider themselves: they ask :func:`build_providers`.

One provider object serves every compute resource of its kind (the local kind) or of its entry
(a named provider) in a cluster, so ``describe`` of that object covers all of them and nothing is
listed twice.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable

from stratus.config import ClusterLayout
from stratus.config.layout import ProviderLayout
from stratus.paths import ClusterPaths
from stratus.providers.base import Instance, Provider

DEFAULT_KIND = "local"

#: kind -> factory(cluster paths) -> provider
ProviderFactory = Callable[[ClusterPaths], Provider]


def _local(paths: ClusterPaths) -> Provider:
    from stratus.providers.local import LocalProvider

    return LocalProvider(paths)


_FACTORIES: dict[str, ProviderFactory] = {"local": _local}


def _ssh(paths: ClusterPaths, entry: ProviderLayout) -> Provider:
    from stratus.providers.ssh import SshProvider

    return SshProvider(paths, entry)


def _ec2(paths: ClusterPaths, entry: ProviderLayout) -> Provider:
    from stratus.providers.ec2 import Ec2Provider

    return Ec2Provider.from_layout(paths, entry)


#: kind -> factory(cluster paths, its Stratus.Providers entry) -> provider
_NAMED: dict[str, Callable[[ClusterPaths, ProviderLayout], Provider]] = {"ssh": _ssh, "ec2": _ec2}


def register(kind: str, factory: ProviderFactory) -> None:
    """Make provider ``kind`` available to cluster configurations."""
    _FACTORIES[kind] = factory


def kind_of(layout: ClusterLayout | None, group: str) -> str:
    """The provider kind that launches compute resource ``group``.

    A compute resource naming a ``Stratus.Providers`` entry gets that entry's type; every other
    one (and any group of a layout that does not know it) is ``local``.
    """
    if layout is None:
        return DEFAULT_KIND
    queue_name, _, cr_name = group.partition("/")
    queue = layout.queue(queue_name)
    cr = queue.compute_resource(cr_name) if queue is not None else None
    provider = layout.provider(cr.provider) if cr is not None and cr.provider else None
    return provider.kind if provider is not None else DEFAULT_KIND


class ProviderSet:
    """The providers of one cluster, by compute resource.

    ``for_group`` of a group the configuration does not name (an instance recorded under a
    configuration since changed) is the default kind's provider.
    """

    def __init__(self, by_group: dict[str, Provider], default: Provider) -> None:
        self._by_group = dict(by_group)
        self.default = default

    @classmethod
    def single(cls, provider: Provider) -> ProviderSet:
        """Every compute resource launched by ``provider``."""
        return cls({}, provider)

    def for_group(self, group: str) -> Provider:
        return self._by_group.get(group, self.default)

    def for_instance(self, instance: Instance, group: str = "") -> Provider:
        """The provider of ``instance``: by its tag, else by ``group`` (the node's compute resource)."""
        return self.for_group(instance.group or group)

    def distinct(self) -> list[Provider]:
        """Each provider once (the default first)."""
        out: list[Provider] = [self.default]
        for p in self._by_group.values():
            if all(p is not q for q in out):
                out.append(p)
        return out

    async def terminate(
        self, instances: Iterable[tuple[Instance, str]], grace_s: float
    ) -> list[BaseException]:
        """Terminate ``(instance, group)`` pairs, one batched call per provider, concurrently.

        Returns the errors (one per provider that failed); every provider is asked even when
        another fails.
        """
        batches: list[tuple[Provider, list[Instance]]] = []
        for inst, group in instances:
            p = self.for_instance(inst, group)
            for q, batch in batches:
                if q is p:
                    batch.append(inst)
                    break
            else:
                batches.append((p, [inst]))
        results = await asyncio.gather(
            *(p.terminate(batch, grace_s) for p, batch in batches), return_exceptions=True
        )
        return [r for r in results if isinstance(r, BaseException)]


def build_providers(paths: ClusterPaths, layout: ClusterLayout | None) -> ProviderSet:
    """The providers the configuration asks for, one object per kind.

    ``layout`` None (a configuration that cannot be read, e.g. while tearing down a broken
    cluster) gives every compute resource the default kind.
    """
    made: dict[str, Provider] = {}
    named: dict[str, Provider] = {}

    def get(kind: str) -> Provider:
        if kind not in made:
            factory = _FACTORIES.get(kind)
            if factory is None:
                raise ValueError(f"unknown provider kind {kind!r}")
            made[kind] = factory(paths)
        return made[kind]

    def of_entry(name: str) -> Provider:
        if name not in named:
            entry = layout.provider(name) if layout is not None else None
            if entry is None or entry.kind not in _NAMED:
                raise ValueError(f"unknown provider {name!r}")
            named[name] = _NAMED[entry.kind](paths, entry)
        return named[name]

    by_group: dict[str, Provider] = {}
    if layout is not None:
        for queue in layout.queues:
            for cr in queue.compute_resources:
                group = f"{queue.name}/{cr.name}"
                by_group[group] = of_entry(cr.provider) if cr.provider else get(kind_of(layout, group))
    return ProviderSet(by_group, get(DEFAULT_KIND))
