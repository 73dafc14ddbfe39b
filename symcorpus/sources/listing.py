"""Every source of a build listed on the driver: the sources, their units, and what the workers need
to read each (`SourceContext`: storage options and metadata joins), shared by the Spark build and
the one-process run."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from symcorpus.config import IngestSettings
from symcorpus.sources import list_source, resolve_source, source_options, storage
from symcorpus.sources.base import Source, SourceError, Unit
from symcorpus.sources.joins import Join


@dataclass
class SourceContext:
    """What the workers need to read one source: its storage options and its metadata joins."""

    options: dict[str, Any] = field(default_factory=dict)
    joins: list[Join] = field(default_factory=list)


@dataclass
class ListedSources:
    sources: list[Source]
    units: dict[str, list[Unit]]  # source name -> its units, in listing order
    contexts: dict[str, SourceContext]
    info: dict[str, dict[str, Any]]  # source name -> what its listing says (adapters)

    def all_units(self) -> list[Unit]:
        return [u for us in self.units.values() for u in us]

    def joins(self) -> dict[str, list[Join]]:
        return {name: c.joins for name, c in self.contexts.items() if c.joins}

    def manifest_entries(self) -> list[dict[str, Any]]:
        """What manifest.json says of each source (no secrets: storage options are not in it)."""
        entries = []
        for s in self.sources:
            entry = {"name": s.name, "uri": s.uri, "kind": s.kind, "units": len(self.units[s.name])}
            if s.options:
                entry["options"] = storage.public_options(s.options)
            if self.info.get(s.name):
                entry["listing"] = self.info[s.name]
            entries.append(entry)
        return entries


def resolve_sources(specs: Iterable[str | Source], settings: IngestSettings) -> list[Source]:
    """The sources named (SOURCE strings, or Sources a recipe made), each with a distinct name;
    SourceError for one that cannot be used, before anything is listed."""
    sources: list[Source] = []
    for spec in specs:
        taken = {s.name for s in sources}
        if not isinstance(spec, Source):
            spec = resolve_source(spec, taken, storage_settings=settings.storage_options)
        elif spec.name in taken:
            raise SourceError(f"two sources are named {spec.name!r}")
        sources.append(spec)
    return sources


def list_sources(specs: Iterable[str | Source], settings: IngestSettings,
                 listed: Callable[[Source], None] | None = None) -> ListedSources:
    """The sources named and their units of work, metadata joins and listing notes."""
    sources = resolve_sources(specs, settings)
    units, contexts, info = {}, {}, {}
    for source in sources:
        listing = list_source(source, settings)
        units[source.name] = listing.units
        contexts[source.name] = SourceContext(source_options(source, settings), listing.joins)
        info[source.name] = listing.info
        if listed is not None:
            listed(source)
    return ListedSources(sources, units, contexts, info)
