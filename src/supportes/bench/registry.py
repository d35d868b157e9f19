"""The named benchmarks: ``@benchmark(name, summary)`` registers ``(settings, scale) -> Result``."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from supportes.bench.results import Result
from supportes.settings import Settings

BenchFn = Callable[[Settings, float], Result]


@dataclass(frozen=True)
class Benchmark:
    """A registered benchmark."""

    name: str
    summary: str
    run: BenchFn


class Registry:
    """Benchmarks by name, in registration order (the order they run in)."""

    def __init__(self) -> None:
        self._items: dict[str, Benchmark] = {}

    def register(self, name: str, summary: str) -> Callable[[BenchFn], BenchFn]:
        """Decorator registering ``fn`` under ``name``; a name can be registered once."""

        def decorate(fn: BenchFn) -> BenchFn:
            if name in self._items:
                raise ValueError(f"benchmark {name!r} is already registered")
            self._items[name] = Benchmark(name, summary, fn)
            return fn

        return decorate

    def names(self) -> list[str]:
        """Every registered name, in order."""
        return list(self._items)

    def get(self, name: str) -> Benchmark:
        """The benchmark called ``name`` (KeyError when unknown)."""
        return self._items[name]

    def select(self, only: Iterable[str] | None) -> list[Benchmark]:
        """The benchmarks to run: all, or those named in ``only`` (registration order kept).

        Raises KeyError naming the first unknown name.
        """
        if not only:
            return list(self._items.values())
        wanted = set(only)
        for name in wanted:
            if name not in self._items:
                raise KeyError(name)
        return [b for b in self._items.values() if b.name in wanted]


REGISTRY = Registry()
benchmark = REGISTRY.register
