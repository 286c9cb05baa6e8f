"""One way to choose an implementation: a registry per extension point, keyed by the setting that names it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class UnknownImplementation(ValueError):
    pass


class Registry(Generic[T]):
    """Maps a setting's value (usually a StrEnum member) to the factory that builds that implementation."""

    def __init__(self, what: str):
        self.what = what
        self._factories: dict[str, Callable[..., T]] = {}

    def register(self, key: str, factory: Callable[..., T]) -> Callable[..., T]:
        if key in self._factories:
            raise ValueError(f"{self.what} {key!r} is registered twice")
        self._factories[str(key)] = factory
        return factory

    def __iter__(self):
        return iter(self.keys())

    def __contains__(self, key: object) -> bool:
        return str(key) in self._factories

    def keys(self) -> list[str]:
        return sorted(self._factories)

    def factory(self, key: str) -> Callable[..., T]:
        try:
            return self._factories[str(key)]
        except KeyError:
            raise UnknownImplementation(f"unknown {self.what} {key!r}; choose one of {', '.join(self.keys())}") from None

    def build(self, key: str, *args, **kwargs) -> T:
        return self.factory(key)(*args, **kwargs)
