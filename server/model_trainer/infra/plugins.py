"""Plugins found through entry points: loaded, checked, listed with their distribution.

Entry-point objects are untyped until checked: they are `object`s here until their contract
accepts them, and nothing leaves this module but checked plugins and plain records.

A broken plugin (import error, a constructor that raises, a missing method, options whose
JSON schema cannot be built) is logged with its stack and listed as broken with the reason:
the process starts and every other plugin works. Two distributions claiming one name is a
configuration error the process refuses to start with, naming both, unless
`PLUGINS__PREFER` picks one.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from enum import StrEnum
from importlib.metadata import EntryPoint, entry_points
from typing import Generic, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError

from model_trainer.core.errors import AppError, ErrorCode
from model_trainer.core.json_types import JsonObject
from model_trainer.core.logging import Log
from model_trainer.core.request_model import PLUGIN_NAME, problems


class HasOptions(Protocol):
    """What every plugin offers the registry: its name and the model of its options."""

    def name(self) -> str: ...

    def options_model(self) -> type[BaseModel]: ...


P = TypeVar("P", bound=HasOptions)

_log = Log("core")
_JSON_OBJECT: TypeAdapter[JsonObject] = TypeAdapter(JsonObject)
_CLASS: type[type] = type
"""`type`, named once: only its constructor, never called here, takes `Any`."""


class PluginStatus(StrEnum):
    OK = "ok"
    BROKEN = "broken"


class PluginRecord(BaseModel):
    """One installed plugin as `GET /backends` shows it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: str
    name: str
    distribution: str
    version: str
    status: PluginStatus
    reason: str | None = None
    options_schema: JsonObject | None = None
    passed_over: list[str] = []
    """Other distributions providing this name, which `PLUGINS__PREFER` did not pick."""


def _distribution(ep: EntryPoint) -> tuple[str, str]:
    dist = ep.dist
    if dist is None:
        return "unknown", "unknown"
    return str(dist.name), str(dist.version)


def _pick(
    kind: str, name: str, eps: list[EntryPoint], prefer: dict[str, str]
) -> tuple[EntryPoint, list[str]]:
    """The one entry point for `name`, and the distributions `PLUGINS__PREFER` passed over:
    refuse to guess between distributions."""
    by_dist: dict[str, EntryPoint] = {}
    for ep in eps:
        by_dist.setdefault(_distribution(ep)[0], ep)  # one distribution listed twice is one
    if len(by_dist) == 1:
        return next(iter(by_dist.values())), []
    chosen = prefer.get(name)
    dists = " and ".join(sorted(by_dist))
    if chosen is None:
        raise AppError(
            ErrorCode.PLUGIN_CONFLICT,
            f"{kind} plugin '{name}' is provided by {dists}: uninstall one, or pick one with "
            f'PLUGINS__PREFER=\'{{"{name}": "<distribution>"}}\'',
        )
    if chosen not in by_dist:
        raise AppError(
            ErrorCode.PLUGIN_CONFLICT,
            f"PLUGINS__PREFER picks '{chosen}' for {kind} plugin '{name}', which only {dists} "
            "provide",
        )
    return by_dist[chosen], sorted(d for d in by_dist if d != chosen)


def _schema(plugin: HasOptions) -> JsonObject:
    """The plugin's options schema, checked to be a JSON object (pydantic types it with `Any`)."""
    schema: object = plugin.options_model().model_json_schema()
    if not isinstance(schema, dict):
        raise TypeError("the options schema is not a JSON object")
    return _JSON_OBJECT.validate_python(schema)


def _changed(record: PluginRecord, **changes: object) -> PluginRecord:
    """`record` with `changes` (pydantic's `model_copy` takes them as a dict of `Any`)."""
    return record.model_copy(update=changes)


def _has_method(instance: object, name: str) -> bool:
    method: object = getattr(instance, name, None)
    return callable(method)


def _load(
    kind: str,
    name: str,
    ep: EntryPoint,
    accept: Callable[[object], P | None],
    required: tuple[str, ...],
) -> tuple[PluginRecord, P | None]:
    """One plugin, checked; its record says why when it cannot be used."""
    dist, version = _distribution(ep)
    record = PluginRecord(
        kind=kind, name=name, distribution=dist, version=version, status=PluginStatus.OK
    )

    def broken(reason: str) -> tuple[PluginRecord, P | None]:
        _log.error("plugin_broken", kind=kind, plugin=name, distribution=dist, reason=reason)
        return _changed(record, status=PluginStatus.BROKEN, reason=reason), None

    try:
        loaded: object = ep.load()
        instance: object = loaded
        if isinstance(loaded, _CLASS):
            instance = loaded()
    except Exception as exc:  # noqa: BLE001 - any import or constructor error: listed
        _log.exception("plugin_load_failed", kind=kind, plugin=name, distribution=dist)
        return broken(f"could not be loaded: {type(exc).__name__}: {exc}")
    missing = [m for m in required if not _has_method(instance, m)]
    plugin = accept(instance) if not missing else None
    if plugin is None:
        return broken(f"does not fit the {kind} contract (missing: {', '.join(missing)})")
    try:
        claimed = plugin.name()
        schema = _schema(plugin)
    except Exception as exc:  # noqa: BLE001 - a plugin's own bug: listed, not fatal
        _log.exception("plugin_schema_failed", kind=kind, plugin=name, distribution=dist)
        return broken(f"its options schema failed: {type(exc).__name__}: {exc}")
    if claimed != name:
        return broken(f"calls itself '{claimed}' but is registered as '{name}'")
    if not re.fullmatch(PLUGIN_NAME, name):
        # Requests name plugins by a pattern: a plugin outside it could never be asked for.
        return broken(f"its name '{name}' can never be requested: names match {PLUGIN_NAME}")
    return _changed(record, options_schema=schema), plugin


def discover(
    group: str,
    kind: str,
    accept: Callable[[object], P | None],
    required: tuple[str, ...],
    prefer: dict[str, str],
) -> tuple[dict[str, P], list[PluginRecord]]:
    """Load the group's plugins: those that work by name, and a record of every one."""
    found: dict[str, list[EntryPoint]] = {}
    for ep in entry_points(group=group):
        found.setdefault(ep.name, []).append(ep)
    plugins: dict[str, P] = {}
    records: list[PluginRecord] = []
    for name in sorted(found):
        ep, passed_over = _pick(kind, name, found[name], prefer)
        record, plugin = _load(kind, name, ep, accept, required)
        if passed_over:
            passed = ", ".join(passed_over)
            _log.info("plugin_preferred", kind=kind, plugin=name, passed_over=passed)
            record = _changed(record, passed_over=passed_over)
        records.append(record)
        if plugin is not None:
            plugins[name] = plugin
    return plugins, records


class PluginRegistry(Generic[P]):
    """The working plugins of one kind by name, and the records of all of them."""

    def __init__(
        self, kind: str, field: str, plugins: dict[str, P], records: list[PluginRecord]
    ) -> None:
        self.kind = kind
        self.field = field
        """The request field that names a plugin of this kind (for messages)."""
        self._plugins = plugins
        self._records = records

    def names(self) -> list[str]:
        return sorted(self._plugins)

    def records(self) -> list[PluginRecord]:
        return list(self._records)

    def get(self, name: str) -> P:
        """The plugin called `name`, or `UNKNOWN_BACKEND` listing the ones there are."""
        plugin = self._plugins.get(name)
        if plugin is not None:
            return plugin
        known = ", ".join(self.names()) or "none"
        broken = next((r for r in self._records if r.name == name), None)
        why = f" (installed but broken: {broken.reason})" if broken is not None else ""
        raise AppError(
            ErrorCode.UNKNOWN_BACKEND,
            f"{self.field}: no {self.kind} backend '{name}'{why}; available: {known}",
        )

    def options(self, name: str, raw: JsonObject, field: str) -> JsonObject:
        """`raw` checked by the plugin's own options model, with its defaults filled in."""
        model = self.get(name).options_model()
        try:
            parsed = model.model_validate(raw)
        except ValidationError as exc:
            raise AppError(ErrorCode.CONFIG_INVALID, problems(exc, field)) from None
        dumped: object = parsed.model_dump(mode="json")
        if not isinstance(dumped, dict):
            raise AppError(ErrorCode.PLUGIN_BROKEN, f"{self.kind} '{name}': options not an object")
        return _JSON_OBJECT.validate_python(dumped)
