"""What a run reads: a built-in data set by name, or the user's own file or folder,
with the keys that describe its layout.

One description serves both. A user gives ``--data PATH`` and, where the layout
is not evident from the file, keys in the run YAML's ``data:`` block or as
``--set data.KEY=VALUE``; a built-in set is the same description with its file
found through the registry and its keys taken from the registry's ``layout``.
A family's loader therefore has one path from file to windows, whichever kind of
source it is handed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from data.errors import DataError


@dataclass(frozen=True)
class DataSource:
    """A data set a run reads.

    ``path`` is the user's file or folder (absolute); empty for a built-in set,
    which is found under ``data_dir`` / ``$ORCH_DATA_DIR`` / the user cache.
    ``keys`` holds the layout keys (``time``, ``target``, ``split``, ...) as
    canonical JSON, so two equal descriptions compare and hash alike and a key's
    value reads back exactly as the user wrote it (lists stay lists).
    """

    name: str
    path: str = ""
    keys: str = "{}"
    data_dir: str | None = None

    @property
    def builtin(self) -> bool:
        return not self.path

    @property
    def options(self) -> dict[str, Any]:
        return json.loads(self.keys)

    def get(self, key: str, default: Any = None) -> Any:
        return self.options.get(key, default)

    def flag(self) -> str:
        """How the user named this source, for error messages."""
        return f"--data {self.path}" if self.path else f"--dataset {self.name}"

    def with_keys(self, **keys: Any) -> DataSource:
        """The same source with ``keys`` added (the caller's win over what is set)."""
        return replace(self, keys=_frozen({**self.options, **keys}))

    def as_dict(self) -> dict[str, Any]:
        """JSON-safe form, for sweep state files and the ``orch.data_source`` tag."""
        return {"name": self.name, "path": self.path, "keys": self.options, "data_dir": self.data_dir}

    @classmethod
    def from_dict(cls, payload: Mapping[str, Any]) -> DataSource:
        return cls(name=str(payload["name"]), path=str(payload.get("path") or ""),
                   keys=_frozen(payload.get("keys") or {}), data_dir=payload.get("data_dir"))

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), sort_keys=True, default=str)


def _frozen(keys: Mapping[str, Any]) -> str:
    """Canonical JSON of the layout keys (dates and other YAML scalars as text)."""
    return json.dumps({str(k): v for k, v in keys.items()}, sort_keys=True, default=str)


def user_source(path: str | Path, keys: Mapping[str, Any], allowed: Mapping[str, str], name: str = "",
                data_dir: str | None = None) -> DataSource:
    """A user's file or folder with its layout keys, checked against the keys the
    family understands (``allowed``: key -> what it means)."""
    file = Path(path).expanduser()
    if not file.exists():
        raise DataError(f"--data: {file} does not exist")
    unknown = sorted(set(keys) - set(allowed))
    if unknown:
        raise DataError(f"data.{unknown[0]}: unknown key; expected some of {sorted(allowed)}")
    return DataSource(name=str(name or file.stem), path=str(file.resolve()), keys=_frozen(keys), data_dir=data_dir)


def builtin_source(name: str, data_dir: str | None = None) -> DataSource:
    """A built-in set as a source: its name, and the layout keys the registry gives it."""
    from data.registry import get_info

    info = get_info(name)
    return DataSource(name=name, keys=_frozen(getattr(info, "layout", None) or {}), data_dir=data_dir)


def source_file(source: DataSource, index: int = 0) -> Path:
    """The file (or folder) behind a source: the user's path, or the built-in set's
    ``index``-th file found through the registry."""
    if source.path:
        return Path(source.path)
    from data.registry import dataset_file

    return dataset_file(source.name, source.data_dir, index)


def check_keys(source: DataSource, allowed: Mapping[str, str]) -> None:
    """A DataError naming the first key of ``source`` that ``allowed`` does not list."""
    unknown = sorted(set(source.options) - set(allowed))
    if unknown:
        raise DataError(f"data.{unknown[0]}: unknown key for {source.flag()}; expected some of {sorted(allowed)}")
