"""`datasets fetch` over real HTTP on 127.0.0.1: a mirror of the shared data folder
served by http.server, the user cache under tmp_path. Verified files land in the
cache; a wrong checksum, a cut transfer, a refused connection or Ctrl-C leave
nothing behind."""

from __future__ import annotations

import functools
import hashlib
import http.server
import os
import subprocess
import sys
import threading
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.conftest import data_root, require_data
from data import fetch
from data.registry import DATASETS, cache_dir, find_file
from orchestrator.__main__ import main
from tests.servers import free_port

ROOT = Path(__file__).resolve().parents[1]
FR = DATASETS["epf_fr"].files["epf/FR.csv"]


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep the test output clean
        pass


class _CutShort(http.server.BaseHTTPRequestHandler):
    """Announces the whole file, sends half of it, then closes the connection."""

    body = b""

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body[: len(self.body) // 2])
        self.wfile.flush()
        self.close_connection = True

    def log_message(self, *args):
        pass


@contextmanager
def serve(handler):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def serve_dir(directory: Path):
    return serve(functools.partial(_Quiet, directory=str(directory)))


@pytest.fixture
def shared() -> Path:
    """The data root served as the mirror: the real bytes of br and epf_fr."""
    require_data("br")
    require_data("epf_fr")
    return data_root("epf_fr")


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    """The test's own user cache; no mirror from the environment."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv(fetch.MIRROR_ENV, raising=False)
    return cache_dir()


def files_under(path: Path) -> list[Path]:
    return sorted(p for p in path.rglob("*") if p.is_file()) if path.exists() else []


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_fetch_lands_verified_files_that_find_file_then_finds(shared, cache, monkeypatch):
    info = DATASETS["br"]
    with serve_dir(shared) as url:
        monkeypatch.setenv(fetch.MIRROR_ENV, url)  # the environment variable picks the mirror
        result = fetch.fetch_dataset("br")
        assert sorted(result.downloaded) == sorted(info.files) and not result.present
        again = fetch.fetch_dataset("br")
    assert not again.downloaded and sorted(again.present) == sorted(info.files)
    assert len(files_under(cache)) == len(info.files)  # no temp files left
    for relative, entry in info.files.items():
        assert sha256(cache / relative) == entry.sha256
    monkeypatch.delenv("ORCH_DATA_DIR")
    assert find_file("container_loading_br/extra/thpack9.txt") == (cache / "container_loading_br/extra/thpack9.txt")


def test_cli_fetch_exits_0_and_prints_licence_and_citation(shared, cache, tmp_path):
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "xdg")}
    env.pop(fetch.MIRROR_ENV, None)
    with serve_dir(shared) as url:
        out = subprocess.run([sys.executable, "-m", "orchestrator", "datasets", "fetch", "epf_fr", "--mirror", url],
                             cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "licence:" in out.stdout and "Lago" in out.stdout and "Applied Energy" in out.stdout
    assert "epf/FR.csv" in out.stderr and "2.3 MB / 2.3 MB" in out.stderr  # progress
    assert sha256(cache / FR.path) == FR.sha256


def test_wrong_checksum_is_refused_and_removed(shared, cache, tmp_path, capsys):
    mirror = tmp_path / "mirror"
    (mirror / "epf").mkdir(parents=True)
    data = bytearray((shared / FR.path).read_bytes())
    data[-2] ^= 1
    (mirror / FR.path).write_bytes(bytes(data))
    with serve_dir(mirror) as url:
        assert main(["datasets", "fetch", "epf_fr", "--mirror", url]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "epf/FR.csv" in err and f"expected {FR.sha256}" in err and f"got {hashlib.sha256(data).hexdigest()}" in err
    assert files_under(cache) == []


def test_cut_transfer_leaves_nothing(shared, cache, capsys):
    handler = type("Cut", (_CutShort,), {"body": (shared / FR.path).read_bytes()})
    with serve(handler) as url:
        assert main(["datasets", "fetch", "epf_fr", "--mirror", url]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert f"ended after {FR.size // 2} of {FR.size} bytes" in err
    assert files_under(cache) == []


def test_ctrl_c_mid_download_leaves_nothing(shared, cache, monkeypatch):
    def interrupt(self, got):
        raise KeyboardInterrupt

    monkeypatch.setattr(fetch._Progress, "update", interrupt)
    with serve_dir(shared) as url, pytest.raises(KeyboardInterrupt):
        fetch.fetch_dataset("epf_fr", mirror=url)
    assert files_under(cache) == []


def test_network_errors_and_unknown_names_are_one_line_exit_2(cache, tmp_path, capsys):
    port = free_port()  # nothing listens there
    assert main(["datasets", "fetch", "epf_fr", "--mirror", f"http://127.0.0.1:{port}"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert "cannot download" in err[-1] and "epf/FR.csv" in err[-1]
    with serve_dir(tmp_path) as url:  # an empty mirror: 404
        assert main(["datasets", "fetch", "epf_fr", "--mirror", url]) == 2
    assert "HTTP 404" in capsys.readouterr().err.strip().splitlines()[-1]
    assert main(["datasets", "fetch", "no_such_set"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no_such_set" in err[0] and "epf_fr" in err[0] and "cwru" in err[0]
    assert main(["datasets", "fetch", "synthetic_wells"]) == 0
    assert "needs no download" in capsys.readouterr().out
    assert files_under(cache) == []


def test_listing_shows_a_fetched_set_as_present(shared, cache, monkeypatch, capsys):
    monkeypatch.delenv("ORCH_DATA_DIR")
    assert main(["datasets"]) == 0
    before = next(line for line in capsys.readouterr().out.splitlines() if line.split()[:1] == ["epf_fr"])
    assert "MISSING" in before and "datasets fetch epf_fr" in before
    with serve_dir(shared) as url:
        assert main(["datasets", "fetch", "epf_fr", "--mirror", url]) == 0
    capsys.readouterr()
    assert main(["datasets", "--check"]) == 0
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.split()[:1] == ["epf_fr"])
    assert row.split()[1:3] == ["ok", "1/1"] and str(cache) in row and "2.3 MB" in row
    assert "licence:" in out and "source:" in out
