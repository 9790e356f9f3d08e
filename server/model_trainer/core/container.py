"""A small typed service container.

Two lifetimes, as in svcs: a `Registry` of factories built once per process by the
composition root, and a `Container` per request or per job that builds each service at most
once and runs cleanups when closed. Lookups go through a typed `Key[T]`, which keeps the
factory and the cached instance for its own type, so `container.get(key)` returns a `T`
without casts.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar
from weakref import WeakKeyDictionary

T = TypeVar("T")


class Key(Generic[T]):
    """Names one service and remembers, per registry and container, how to get it."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._factories: WeakKeyDictionary[Registry, Callable[[Container], T]] = WeakKeyDictionary()
        self._instances: WeakKeyDictionary[Container, T] = WeakKeyDictionary()

    def __repr__(self) -> str:
        return f"Key({self.name!r})"


class Registry:
    """Factories by key; built once per process, shared by its containers."""

    def __init__(self) -> None:
        self._cleanups: list[Callable[[], None]] = []

    def register(self, key: Key[T], factory: Callable[[Container], T]) -> None:
        """Add or replace the factory for `key` (tests replace parts this way)."""
        key._factories[self] = factory

    def register_value(self, key: Key[T], value: T) -> None:
        """Register an already-built service."""
        self.register(key, lambda _c: value)

    def register_singleton(self, key: Key[T], factory: Callable[[Container], T]) -> None:
        """Build on first use and share for the registry's lifetime (process-wide state)."""
        built: list[T] = []

        def once(container: Container) -> T:
            if not built:
                built.append(factory(container))
            return built[0]

        self.register(key, once)

    def on_close(self, cleanup: Callable[[], None]) -> None:
        """Run `cleanup` when the registry closes (process shutdown)."""
        self._cleanups.append(cleanup)

    def container(self) -> Container:
        """A fresh container for one request or job."""
        return Container(self)

    def factory(self, key: Key[T]) -> Callable[[Container], T]:
        try:
            return key._factories[self]
        except KeyError:
            raise LookupError(f"no service registered for {key!r}") from None

    def close(self) -> None:
        for cleanup in reversed(self._cleanups):
            cleanup()
        self._cleanups.clear()


class Container:
    """Builds each service at most once and closes what it built."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self._cleanups: list[Callable[[], None]] = []

    def get(self, key: Key[T]) -> T:
        """The service for `key`, built on first use."""
        cache = key._instances
        if self not in cache:
            cache[self] = self.registry.factory(key)(self)
        return cache[self]

    def on_close(self, cleanup: Callable[[], None]) -> None:
        self._cleanups.append(cleanup)

    def close(self) -> None:
        for cleanup in reversed(self._cleanups):
            cleanup()
        self._cleanups.clear()

    def __enter__(self) -> Container:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
