"""A persistent cache of compiled CPU code, keyed by the IR the lowering starts from.

Nearly all of a CPU compile is spent in the lowering stages and in LLVM (ResNet-50:
~20 s of ~22 s). Their input is the module after ``dagc-hoist-weights``, in which the
weights are arguments of ``@forward``: the same architecture with other weights prints
the same text, so one entry serves every set of weights (the executable reads them at
run time) and a warm compile is import, dag-level passes, hoisting, one hash and one
object load.

Key: sha256 over

- the hoisted module's text; blobs still referenced by an op (not hoisted) are
  printed in its resource trailer, so their values are part of the key;
- the options of the build (the stage list, the LLVM optimization level);
- the toolchain (:func:`toolchain`): a digest of dagc's compiler sources, the dagc,
  xDSL and llvmlite versions, LLVM's version, the target triple, the host CPU's name
  and features.

Value: one file per key, ``<root>/v1/<key>.bin``, holding the native objects (one
per function, see :mod:`dagc.compiler.parallel_build`), the LLVM IR (zlib) and a
JSON ``meta`` dict (e.g. the kernel count)::

    b"DAGCKC02"  sha256(body)  body = u64 header length, header JSON, sections

Where: ``$DAGC_CACHE_DIR``, else ``$XDG_CACHE_HOME/dagc``, else ``~/.cache/dagc``.
``DAGC_CACHE=0`` turns the cache off. ``DAGC_CACHE_MAX_MB`` (default 1024) bounds its
size: after each store the least recently used entries are removed, as ccache's
cleanup does (a hit refreshes an entry's modification time).

Entries are written to a temporary file and renamed (``os.replace``), so a reader sees
a whole entry or none, and two processes storing one key both leave a valid entry.
A read checks the magic, the checksum and the key: an entry that fails is reported
with a :class:`CacheWarning`, removed and rebuilt. An unwritable cache directory is a
warning too; the cache never makes a compile fail.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import tempfile
import time
import warnings
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MAGIC = b"DAGCKC02"
"""The first bytes of an entry; the last two digits are the entry format's version."""

_ROOT = Path(__file__).resolve().parent.parent
_SOURCES = ("__init__.py", "ir.py", "compiler", "dialects", "lowering", "passes", "runtime")
"""The package paths whose ``.py`` files can change the generated code."""


class CacheWarning(RuntimeWarning):
    """A cache entry was corrupt (and is rebuilt), or the cache could not be written."""


@dataclass
class CacheEntry:
    """What a compiled CPU subgraph needs besides its IR: the native objects
    (relocatable host object files, ``CpuModule.emit_object``, loaded together), its
    optimized LLVM IR and JSON-compatible ``meta`` (e.g. ``{"kernels": 55}``)."""

    objects: list[bytes]
    llvm_ir: str
    meta: dict[str, Any] = field(default_factory=dict)


@functools.lru_cache(maxsize=1)
def sources_digest() -> str:
    """sha256 (hex) of dagc's compiler sources: the relative path and the bytes of
    every ``.py`` file under :data:`_SOURCES`, in sorted order."""
    h = hashlib.sha256()
    files: list[Path] = []
    for name in _SOURCES:
        path = _ROOT / name
        files += sorted(path.rglob("*.py")) if path.is_dir() else [path]
    for f in files:
        h.update(f.relative_to(_ROOT).as_posix().encode() + b"\0")
        h.update(f.read_bytes() + b"\0")
    return h.hexdigest()


@functools.lru_cache(maxsize=1)
def toolchain() -> dict[str, str]:
    """What, besides the IR and the options, decides the generated code: dagc's
    sources and version, xDSL's and llvmlite's versions, LLVM's version, the target
    triple and the host CPU (name and features)."""
    from importlib.metadata import version

    import llvmlite
    import llvmlite.binding as llvm

    return {
        "dagc": version("dagc"),
        "sources": sources_digest(),
        "xdsl": version("xdsl"),
        "llvmlite": llvmlite.__version__,
        "llvm": ".".join(map(str, llvm.llvm_version_info)),
        "triple": llvm.get_process_triple(),
        "cpu": llvm.get_host_cpu_name(),
        "features": llvm.get_host_cpu_features().flatten(),
    }


def cache_dir() -> Path:
    """``$DAGC_CACHE_DIR``, else ``$XDG_CACHE_HOME/dagc``, else ``~/.cache/dagc``."""
    if os.environ.get("DAGC_CACHE_DIR"):
        return Path(os.environ["DAGC_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "dagc"


class CompileCache:
    """The entries under ``root`` (see the module docstring for the format).

    Args:
        root: the cache directory (created on the first store).
        max_bytes: the size the entries are trimmed to after a store.
    """

    def __init__(self, root: str | os.PathLike, max_bytes: int = 1024 << 20):
        self.root = Path(root)
        self.folder = self.root / "v1"
        self.max_bytes = max_bytes

    @staticmethod
    def from_env() -> CompileCache | None:
        """The cache the environment asks for, or None when ``DAGC_CACHE=0``.

        Raises:
            ValueError: ``DAGC_CACHE_MAX_MB`` is not a number.
        """
        if os.environ.get("DAGC_CACHE", "1").strip().lower() in ("0", "off", "false", "no"):
            return None
        limit = os.environ.get("DAGC_CACHE_MAX_MB", "1024")
        try:
            max_bytes = int(float(limit) * (1 << 20))
        except ValueError:
            raise ValueError(f"DAGC_CACHE_MAX_MB={limit!r} is not a number of MiB") from None
        return CompileCache(cache_dir(), max_bytes)

    @staticmethod
    def key(ir: str, options: Mapping[str, Any]) -> str:
        """The key (64 hex digits) of compiling IR text ``ir`` with ``options`` (JSON
        values, e.g. ``{"stages": [...], "opt_level": 3}``) by this toolchain."""
        h = hashlib.sha256()
        h.update(json.dumps({"toolchain": toolchain(), "options": dict(options)},
                            sort_keys=True).encode())
        h.update(b"\0" + ir.encode())
        return h.hexdigest()

    def path(self, key: str) -> Path:
        """The file of entry ``key``."""
        return self.folder / f"{key}.bin"

    def get(self, key: str) -> CacheEntry | None:
        """The entry stored under ``key``, or None (missing, or corrupt: then it is
        removed with a :class:`CacheWarning`)."""
        path = self.path(key)
        try:
            data = path.read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as e:
            warnings.warn(f"dagc cache: cannot read {path}: {e}; recompiling", CacheWarning,
                          stacklevel=2)
            return None
        try:
            entry = _decode(data, key)
        except ValueError as e:
            warnings.warn(f"dagc cache: ignoring the corrupt entry {path} ({e}); recompiling",
                          CacheWarning, stacklevel=2)
            path.unlink(missing_ok=True)
            return None
        try:
            os.utime(path)  # most recently used: the last to be evicted
        except OSError:
            pass
        return entry

    def put(self, key: str, entry: CacheEntry) -> Path | None:
        """Store ``entry`` under ``key`` atomically, then trim the cache to
        ``max_bytes``; return the entry's file, or None when it cannot be written
        (a :class:`CacheWarning`)."""
        path = self.path(key)
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=f".{key[:16]}.", suffix=".tmp")
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(_encode(key, entry))
                os.replace(tmp, path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        except OSError as e:
            warnings.warn(f"dagc cache: cannot write {path}: {e}", CacheWarning, stacklevel=2)
            return None
        self._evict(keep=path)
        return path

    def _evict(self, keep: Path) -> None:
        """Remove least recently used entries (other than ``keep``) until the entries
        take at most ``max_bytes``, and temporary files that writers killed midway
        left behind (older than a day)."""
        for f in self.folder.glob(".*.tmp"):
            try:
                if time.time() - f.stat().st_mtime > 86400:
                    f.unlink()
            except FileNotFoundError:
                continue
        entries = []
        for f in self.folder.glob("*.bin"):
            try:
                st = f.stat()
            except FileNotFoundError:  # removed by another process
                continue
            entries.append((st.st_mtime, st.st_size, f))
        total = sum(size for _, size, _ in entries)
        for _, size, f in sorted(entries, key=lambda e: e[0]):
            if total <= self.max_bytes:
                break
            if f != keep:
                f.unlink(missing_ok=True)
                total -= size


def _encode(key: str, entry: CacheEntry) -> bytes:
    sections = {f"object.{i}": code for i, code in enumerate(entry.objects)}
    sections["llvm_ir"] = zlib.compress(entry.llvm_ir.encode(), 1)
    header = json.dumps({"key": key, "meta": entry.meta,
                         "sections": [[name, len(data)] for name, data in sections.items()]},
                        sort_keys=True).encode()
    body = len(header).to_bytes(8, "little") + header + b"".join(sections.values())
    return MAGIC + hashlib.sha256(body).digest() + body


def _decode(data: bytes, key: str) -> CacheEntry:
    """Raises ValueError naming what is wrong with ``data``."""
    if data[: len(MAGIC)] != MAGIC:
        raise ValueError("not a dagc cache entry of this version")
    digest, body = data[len(MAGIC): len(MAGIC) + 32], data[len(MAGIC) + 32:]
    if hashlib.sha256(body).digest() != digest:
        raise ValueError("checksum mismatch")
    size = int.from_bytes(body[:8], "little")
    try:
        header = json.loads(body[8: 8 + size])
        sections, offset = {}, 8 + size
        for name, length in header["sections"]:
            sections[name] = body[offset: offset + length]
            offset += length
        if header["key"] != key or offset != len(body):
            raise ValueError("the entry belongs to another key")
        objects = [sections[f"object.{i}"] for i in range(len(sections) - 1)]
        return CacheEntry(objects, zlib.decompress(sections["llvm_ir"]).decode(), header["meta"])
    except (KeyError, TypeError, json.JSONDecodeError, UnicodeDecodeError, zlib.error) as e:
        raise ValueError(f"malformed entry: {e}") from e
