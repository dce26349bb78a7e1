"""Property-based fuzzing of every reader and config parser: whatever the input,
only the project's own error types (DataError, ConfigError, InstanceError) escape."""

from __future__ import annotations

import io
import string
import tempfile
from pathlib import Path

import numpy as np
import pytest
import scipy.io
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from data.recordings import read_cwru_channel, read_excel_signal
from data.epf import read_fr_csv
from data.errors import DataError
from data.ett import read_ett_csv
from data.volve import read_volve_daily
from orchestrator.config import parse_set, read_yaml
from orchestrator.spaces import from_yaml
from packing.errors import InstanceError
from packing.instances import parse_selection, read_file
from trainables.config import build_config
from trainables.errors import ConfigError
from trainables.registry import get_spec, names

OURS = (DataError, ConfigError, InstanceError)
FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

csv_cells = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-10**6, 10**6),
                      st.text(alphabet=string.printable, max_size=8), st.just(""))


def _write(data: bytes, suffix: str) -> Path:
    handle = tempfile.NamedTemporaryFile(suffix=suffix, delete=False)
    handle.write(data)
    handle.close()
    return Path(handle.name)


def _raises_only_ours(reader, path: Path) -> None:
    try:
        reader(path)
    except OURS:
        pass
    finally:
        path.unlink(missing_ok=True)


def _csv(header: list[str], rows: list[list]) -> bytes:
    lines = [",".join(header)] + [",".join(str(c) for c in row) for row in rows]
    return "\n".join(lines).encode()


@FUZZ
@given(st.binary(max_size=400))
def test_csv_readers_on_random_bytes(blob):
    for reader in (read_ett_csv, read_fr_csv, read_volve_daily):
        _raises_only_ours(reader, _write(blob, ".csv"))


ETT_HEADER = ["date", "HUFL", "HULL", "MUFL", "MULL", "LUFL", "LULL", "OT"]
EPF_HEADER = ["Date", " Prices", " Generation forecast", " System load forecast"]


@FUZZ
@given(st.lists(st.lists(csv_cells, min_size=0, max_size=9), max_size=30), st.integers(0, 3))
def test_csv_readers_on_malformed_tables(rows, variant):
    headers = [ETT_HEADER, EPF_HEADER, ETT_HEADER[:-2], ["a", "b"]]
    blob = _csv(headers[variant], rows)
    for reader in (read_ett_csv, read_fr_csv, read_volve_daily):
        _raises_only_ours(reader, _write(blob, ".csv"))


@FUZZ
@given(st.lists(st.text(alphabet="0123456789 \t\r\n-.x", max_size=12), max_size=40))
def test_instance_reader_on_malformed_files(tokens):
    _raises_only_ours(read_file, _write(" ".join(tokens).encode(), ".txt"))


@FUZZ
@given(st.text(max_size=20))
def test_instance_selection_parser(text):
    try:
        parse_selection(text)
    except OURS:
        pass


@FUZZ
@given(st.dictionaries(st.sampled_from(["X097_DE_time", "X097_FE_time", "nothing", "X1_DE_time"]),
                       st.one_of(st.just(np.zeros((0, 1))), st.just(np.ones((5, 2))), st.just(np.array([["a"]])),
                                 st.just(np.full((8, 1), np.nan)), st.just(np.arange(20.0).reshape(20, 1))),
                       max_size=3), st.booleans())
def test_mat_reader_on_wrong_keys_and_values(contents, truncate):
    buffer = io.BytesIO()
    scipy.io.savemat(buffer, contents or {"empty": np.zeros(1)})
    blob = buffer.getvalue()
    if truncate:
        blob = blob[: len(blob) // 2]
    _raises_only_ours(read_cwru_channel, _write(blob, ".mat"))


sheet_cells = st.one_of(st.floats(allow_nan=True, allow_infinity=False), st.integers(-10**6, 10**6),
                        st.text(alphabet=string.ascii_letters + string.digits + " .-", max_size=8), st.none())


@FUZZ
@given(st.lists(st.lists(sheet_cells, max_size=3), max_size=15), st.booleans())
def test_excel_reader_on_malformed_sheets(rows, corrupt):
    import openpyxl

    path = Path(tempfile.NamedTemporaryFile(suffix=".xlsx", delete=False).name)
    if corrupt:
        path.write_bytes(b"PK\x03\x04 not really a workbook")
    else:
        book = openpyxl.Workbook()
        for row in rows:
            book.active.append([None if isinstance(c, float) and np.isnan(c) else c for c in row])
        book.save(path)
    _raises_only_ours(read_excel_signal, path)


yaml_text = st.one_of(st.text(max_size=80), st.sampled_from([
    "model: [", "model: timemixer\nparams: 3\n", "sweep: {space: {lr: {grid: []}}}", "- 1\n- 2",
    "model: timemixer\nparams: {dropout: abc}\n", ": :", "model: timemixer\nworkers: -1\n", "\x00"]))


@FUZZ
@given(text=yaml_text)
def test_yaml_reader(text, tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text(text)
    try:
        loaded = read_yaml(path)
        space = (loaded.get("sweep") or {}).get("space") if isinstance(loaded.get("sweep"), dict) else None
        if isinstance(space, dict):
            from_yaml(space, str(path))
    except OURS:
        pass


@FUZZ
@given(st.lists(st.text(max_size=15), max_size=4))
def test_set_parser(items):
    try:
        parse_set(items)
    except OURS:
        pass


json_values = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=6)),
                           lambda inner: st.lists(inner, max_size=3), max_leaves=5)


@pytest.mark.parametrize("family", names())
@FUZZ
@given(data=st.data())
def test_model_configs_accept_or_reject_cleanly(family, data):
    spec = get_spec(family)
    fields = [f for f in spec.config_cls.__dataclass_fields__]
    key = data.draw(st.one_of(st.sampled_from(fields), st.text(max_size=8)))
    value = data.draw(json_values)
    try:
        build_config(spec.config_cls, {key: value})
    except OURS:
        pass
