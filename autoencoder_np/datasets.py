"""Data sets for the course: MNIST (from IDX files), a small-digits fallback and noisy 2-D curves.

MNIST
-----
:func:`load_mnist` reads the four original IDX files of the MNIST database

- ``"train"`` (60,000 images): ``train-images-idx3-ubyte`` and ``train-labels-idx1-ubyte``;
- ``"test"`` (10,000 images): ``t10k-images-idx3-ubyte`` and ``t10k-labels-idx1-ubyte``;

each either gzip-compressed (``<name>.gz``, preferred when both exist) or raw (uncompressed),
from ONE data directory, chosen in this order:

1. the ``data_dir`` argument, if given;
2. else the environment variable ``AUTOENCODER_NP_DATA``, if set and non-empty;
3. else the user cache ``$XDG_CACHE_HOME/autoencoder_np/mnist`` (``XDG_CACHE_HOME`` defaults to
   ``~/.cache``), see :func:`default_cache_dir`.

Integrity: a ``.gz`` file must have the MD5 checksum every MNIST loader publishes
(:data:`MNIST_MD5`). The checksums of the raw files are not published, so a raw file is
validated structurally instead: IDX magic number (2051 for images, 2049 for labels), 28 x 28
images, and a file length that is exactly header + count x item size. Decompressed ``.gz``
contents are validated the same way. Any failure raises :class:`MnistCorruptError` naming the
file; nothing is silently repaired or re-downloaded.

With ``download=True``, missing ``.gz`` files are fetched from the mirrors in
:data:`MNIST_MIRRORS` (tried in order) into the data directory in use (the user cache unless
``data_dir`` or ``AUTOENCODER_NP_DATA`` says otherwise). Each download goes to a temporary
file in that directory, its MD5 is checked, and only a verified file is moved into place: a
corrupt or mismatching download is never left behind.

:func:`load_images` is the lectures' entry point: MNIST when it can be had, else scikit-learn's
bundled 8 x 8 digits, with a :class:`DigitsFallbackWarning` saying so.

Curves
------
:func:`make_line`, :func:`make_circle` and :func:`make_spiral` sample the noisy 2-D curves of
Im et al., "Conservativeness of untied auto-encoders" (Figure 3): points on a parametrised
line, circle and spiral plus Gaussian white noise, as ``(m, 2)`` arrays (examples are rows).
"""
from __future__ import annotations

import gzip
import hashlib
import http.client
import numbers
import os
import tempfile
import urllib.request
import warnings
import zlib
from pathlib import Path

import numpy as np

from ._validation import check_nonneg_float, check_positive_int

__all__ = [
    "load_mnist",
    "load_images",
    "make_line",
    "make_circle",
    "make_spiral",
    "resolve_data_dir",
    "default_cache_dir",
    "MNIST_FILES",
    "MNIST_MD5",
    "MNIST_MIRRORS",
    "MNIST_IMAGE_SHAPE",
    "ENV_VAR",
    "MnistError",
    "MnistNotFoundError",
    "MnistDownloadError",
    "MnistCorruptError",
    "MnistSplitWarning",
    "DigitsFallbackWarning",
]

#: Environment variable naming the MNIST data directory (second in the search order).
ENV_VAR = "AUTOENCODER_NP_DATA"

#: IDX base names (without ``.gz``) of each split: ``split -> (images, labels)``.
MNIST_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}

#: Published MD5 checksums of the original gzip files, keyed by file name (with ``.gz``).
MNIST_MD5 = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}

#: Base URLs of the dataset's published mirrors, tried in order (each ends with ``/``).
MNIST_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)

#: Height and width of an MNIST image.
MNIST_IMAGE_SHAPE = (28, 28)

_IMAGES_MAGIC = 2051  # 0x00000803: unsigned bytes, 3 dimensions
_LABELS_MAGIC = 2049  # 0x00000801: unsigned bytes, 1 dimension
_DOWNLOAD_TIMEOUT = 60.0  # seconds per request
_CHUNK = 1 << 16


# ----------------------------------------------------------------------------------------------
# Errors and warnings
# ----------------------------------------------------------------------------------------------
class MnistError(Exception):
    """Base class of every MNIST loading error of this module."""


class MnistNotFoundError(MnistError, FileNotFoundError):
    """The MNIST files are not in the data directory (and were not downloaded)."""


class MnistDownloadError(MnistNotFoundError):
    """``download=True`` but no mirror could be reached (network or HTTP failure).

    A download that arrives but fails its checksum raises :class:`MnistCorruptError` instead.
    """


class MnistCorruptError(MnistError, ValueError):
    """An MNIST file is corrupt, truncated, has the wrong checksum or does not match its pair."""


class MnistSplitWarning(UserWarning):
    """``split=None`` found no training split and is using the test split instead."""


class DigitsFallbackWarning(UserWarning):
    """:func:`load_images` could not find MNIST and is using scikit-learn's 8 x 8 digits."""


# ----------------------------------------------------------------------------------------------
# Locating the data
# ----------------------------------------------------------------------------------------------
def default_cache_dir():
    """The user cache directory for MNIST.

    Returns
    -------
    path : pathlib.Path
        ``$XDG_CACHE_HOME/autoencoder_np/mnist`` if ``XDG_CACHE_HOME`` is set and non-empty,
        else ``~/.cache/autoencoder_np/mnist``. The directory is not created.
    """
    base = os.environ.get("XDG_CACHE_HOME", "").strip()
    root = Path(base).expanduser() if base else Path.home() / ".cache"
    return root / "autoencoder_np" / "mnist"


def resolve_data_dir(data_dir=None):
    """The MNIST data directory to use, and where that choice came from.

    Parameters
    ----------
    data_dir : str, os.PathLike or None
        Explicit directory (wins). ``None``: the environment variable ``AUTOENCODER_NP_DATA``
        if set and non-empty, else :func:`default_cache_dir`.

    Returns
    -------
    path : pathlib.Path
        The directory (``~`` expanded; it need not exist).
    source : str
        Human-readable origin, used in error messages.
    """
    if data_dir is not None:
        if not isinstance(data_dir, (str, os.PathLike)):
            raise TypeError(f"data_dir must be a path (str or os.PathLike) or None; got {type(data_dir).__name__}")
        if isinstance(data_dir, str) and not data_dir.strip():
            raise ValueError("data_dir is an empty string; pass a directory or None")
        return Path(data_dir).expanduser(), "the data_dir argument"
    env = os.environ.get(ENV_VAR, "").strip()
    if env:
        return Path(env).expanduser(), f"the {ENV_VAR} environment variable"
    return default_cache_dir(), "the default user cache"


def _find(directory, name):
    """Path of ``name.gz`` or raw ``name`` in ``directory`` (gz preferred), or None."""
    for candidate in (directory / f"{name}.gz", directory / name):
        if candidate.is_file():
            return candidate
    return None


def _split_paths(directory, split):
    """``(images_path, labels_path)`` of ``split``; entries are None where missing."""
    return tuple(_find(directory, name) for name in MNIST_FILES[split])


def _not_found_message(directory, source, splits, missing):
    wanted = [f"{name}.gz" for split in splits for name in MNIST_FILES[split]]
    which = " or ".join(f"{s!r}" for s in splits)
    return (
        f"MNIST ({which} split) not found in {directory} (the directory given by {source}); "
        f"missing: {', '.join(missing)}. Put the files {', '.join(wanted)} there (gzip-compressed, "
        f"or uncompressed without the .gz suffix), or call with download=True to fetch them from "
        f"{MNIST_MIRRORS[0] if MNIST_MIRRORS else 'the mirrors'} into that directory, or set the "
        f"environment variable {ENV_VAR} to a directory that holds them."
    )


# ----------------------------------------------------------------------------------------------
# Reading and validating IDX files
# ----------------------------------------------------------------------------------------------
def _md5(path):
    digest = hashlib.md5()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _read_bytes(path):
    """Contents of an IDX file: checksum-verified and decompressed for ``.gz``, as-is for raw."""
    if path.suffix == ".gz":
        expected = MNIST_MD5.get(path.name)
        if expected is None:
            raise MnistCorruptError(f"{path}: no published checksum known for {path.name!r}")
        actual = _md5(path)
        if actual != expected.lower():
            raise MnistCorruptError(
                f"{path}: MD5 checksum mismatch (expected {expected}, got {actual}); the file is "
                f"corrupt or not the original MNIST file. Delete it and put the original there "
                f"(or delete it and use download=True)."
            )
        try:
            with gzip.open(path, "rb") as fh:
                return fh.read()
        except (OSError, EOFError, zlib.error) as exc:
            raise MnistCorruptError(f"{path}: not a valid gzip file ({exc})") from None
    return path.read_bytes()


def _parse_idx(path, data, kind):
    """Validate an IDX file's bytes and return its array.

    Parameters
    ----------
    path : pathlib.Path
        For error messages.
    data : bytes
        The (decompressed) file contents.
    kind : {"images", "labels"}

    Returns
    -------
    array : (count, 28, 28) uint8 array for images, (count,) uint8 array for labels
    """
    if kind == "images":
        magic, header = _IMAGES_MAGIC, 16
    else:
        magic, header = _LABELS_MAGIC, 8
    if len(data) < header:
        raise MnistCorruptError(
            f"{path}: truncated IDX {kind} file ({len(data)} bytes, shorter than its {header}-byte header)"
        )
    fields = np.frombuffer(data, dtype=">u4", count=header // 4)
    if int(fields[0]) != magic:
        raise MnistCorruptError(
            f"{path}: bad IDX magic number {int(fields[0])} (expected {magic} for MNIST {kind}); "
            "not an MNIST IDX file"
        )
    count = int(fields[1])
    if kind == "images":
        rows, cols = int(fields[2]), int(fields[3])
        if (rows, cols) != MNIST_IMAGE_SHAPE:
            raise MnistCorruptError(
                f"{path}: images are {rows} x {cols}, expected {MNIST_IMAGE_SHAPE[0]} x {MNIST_IMAGE_SHAPE[1]}"
            )
        item = rows * cols
    else:
        item = 1
    expected_len = header + count * item
    if len(data) != expected_len:
        state = "truncated" if len(data) < expected_len else "has trailing bytes"
        raise MnistCorruptError(
            f"{path}: {state}: {len(data)} bytes, but its header announces {count} {kind} "
            f"({expected_len} bytes)"
        )
    if count == 0:
        raise MnistCorruptError(f"{path}: the file holds no {kind}")
    arr = np.frombuffer(data, dtype=np.uint8, offset=header)
    if kind == "images":
        return arr.reshape(count, *MNIST_IMAGE_SHAPE)
    if arr.max() > 9:
        raise MnistCorruptError(f"{path}: label {int(arr.max())} out of range; MNIST labels are 0..9")
    return arr


def _load_pair(images_path, labels_path):
    images = _parse_idx(images_path, _read_bytes(images_path), "images")
    labels = _parse_idx(labels_path, _read_bytes(labels_path), "labels")
    if images.shape[0] != labels.shape[0]:
        raise MnistCorruptError(
            f"{images_path} holds {images.shape[0]} images but {labels_path} holds "
            f"{labels.shape[0]} labels; the files do not belong together"
        )
    X = images.reshape(images.shape[0], -1).astype(np.float64) / 255.0
    y = labels.astype(np.int64)
    return X, y


# ----------------------------------------------------------------------------------------------
# Downloading
# ----------------------------------------------------------------------------------------------
def _download(filename, directory):
    """Fetch ``filename`` (a ``.gz`` name) into ``directory``; only a verified file lands there.

    Mirrors are tried in order. A mirror that cannot be reached is skipped; a download whose
    MD5 does not match is discarded and the next mirror is tried. Returns the final path.
    """
    expected = MNIST_MD5.get(filename)
    if expected is None:
        raise MnistCorruptError(f"no published checksum known for {filename!r}; refusing an unverified download")
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise MnistDownloadError(f"cannot create the MNIST data directory {directory}: {exc}") from None
    target = directory / filename
    network_errors, mismatches = [], []
    for base in MNIST_MIRRORS:
        url = base if base.endswith("/") else base + "/"
        url += filename
        fd, tmp_name = tempfile.mkstemp(prefix=f".{filename}.", suffix=".part", dir=directory)
        tmp = Path(tmp_name)
        try:
            digest = hashlib.md5()
            try:
                with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=_DOWNLOAD_TIMEOUT) as resp:
                    for chunk in iter(lambda: resp.read(_CHUNK), b""):
                        digest.update(chunk)
                        out.write(chunk)
            except (OSError, ValueError, http.client.HTTPException) as exc:  # URLError is an OSError
                network_errors.append(f"{url}: {exc}")
                continue
            actual = digest.hexdigest()
            if actual != expected.lower():
                mismatches.append(f"{url}: MD5 {actual}, expected {expected}")
                continue
            os.replace(tmp, target)
            return target
        finally:
            if tmp.exists():
                tmp.unlink()
    if mismatches:
        raise MnistCorruptError(
            f"downloaded {filename} failed its MD5 checksum ({'; '.join(mismatches)}); "
            f"nothing was saved in {directory}"
            + (f". Other mirrors failed: {'; '.join(network_errors)}" if network_errors else "")
        )
    tried = "; ".join(network_errors) if network_errors else "no mirrors configured (MNIST_MIRRORS is empty)"
    raise MnistDownloadError(
        f"could not download {filename} into {directory}: {tried}. Put the MNIST files there "
        f"yourself, or set {ENV_VAR} to a directory that holds them."
    )


# ----------------------------------------------------------------------------------------------
# Public loaders
# ----------------------------------------------------------------------------------------------
def load_mnist(split=None, data_dir=None, download=False):
    """Load MNIST from its IDX files.

    Parameters
    ----------
    split : {"train", "test", None}
        Which split. ``None``: the training split where present (or downloadable with
        ``download=True``), else the test split, with a :class:`MnistSplitWarning`.
    data_dir : str, os.PathLike or None
        Directory holding the files. ``None``: ``$AUTOENCODER_NP_DATA``, else the user cache
        (see the module docstring and :func:`resolve_data_dir`).
    download : bool
        Fetch missing ``.gz`` files from :data:`MNIST_MIRRORS` into the data directory,
        checksum-verified before they are saved.

    Returns
    -------
    X : (m, 784) float64 array
        Images as rows, pixel values scaled to [0, 1] (row-major 28 x 28).
    y : (m,) int64 array
        Labels 0..9. ``m`` is 60,000 for the real training split, 10,000 for the test split.

    Raises
    ------
    MnistNotFoundError
        (a ``FileNotFoundError``) the files are absent and ``download`` is False; the message
        names the directory searched and the files to put there.
    MnistDownloadError
        (a ``MnistNotFoundError``) ``download=True`` but no mirror could be reached.
    MnistCorruptError
        (a ``ValueError``) a file is corrupt or truncated, fails its checksum, or images and
        labels counts differ; the message names the file.
    """
    if split not in (None, "train", "test"):
        raise ValueError(f"split must be 'train', 'test' or None; got {split!r}")
    if not isinstance(download, (bool, np.bool_)):
        raise TypeError(f"download must be True or False; got {download!r}")
    directory, source = resolve_data_dir(data_dir)

    if split is None:
        train = _split_paths(directory, "train")
        if all(train):
            return _load_pair(*train)
        download_failure = None
        if download:
            try:
                return _load_pair(*_fetch_missing(directory, "train", train))
            except MnistDownloadError as exc:  # offline: the test split may still be there
                download_failure = exc
        test = _split_paths(directory, "test")
        if all(test):
            reason = (f"could not be downloaded ({download_failure})" if download_failure is not None
                      else f"not found in {directory}")
            warnings.warn(
                f"MNIST training split {reason}; using the 10,000-image test split as the data "
                f"set (pass download=True or put {MNIST_FILES['train'][0]}.gz and "
                f"{MNIST_FILES['train'][1]}.gz in {directory} for the 60,000-image training split).",
                MnistSplitWarning,
                stacklevel=2,
            )
            return _load_pair(*test)
        if download_failure is not None:
            raise download_failure
        missing = [f"{name}.gz" for s in ("train", "test")
                   for name, p in zip(MNIST_FILES[s], _split_paths(directory, s)) if p is None]
        raise MnistNotFoundError(_not_found_message(directory, source, ("train", "test"), missing))

    paths = _split_paths(directory, split)
    missing = [f"{name}.gz" for name, p in zip(MNIST_FILES[split], paths) if p is None]
    if missing and not download:
        raise MnistNotFoundError(_not_found_message(directory, source, (split,), missing))
    return _load_pair(*_fetch_missing(directory, split, paths))


def _fetch_missing(directory, split, paths):
    """``paths`` of ``split`` with each missing (None) entry downloaded into ``directory``."""
    return tuple(p if p is not None else _download(f"{name}.gz", directory)
                 for name, p in zip(MNIST_FILES[split], paths))


def load_images(n=None, *, data_dir=None, download=False, seed=0):
    """The lectures' data: MNIST if it can be had, else scikit-learn's 8 x 8 digits.

    Parameters
    ----------
    n : int or None
        Number of examples: a random subset of ``n`` rows (without replacement), drawn with
        ``np.random.default_rng(seed)``; ``None`` returns all. If ``n`` exceeds the number
        available, all are returned (shuffled) with a ``UserWarning``.
    data_dir, download
        As in :func:`load_mnist` (which is called with ``split=None``).
    seed : int
        Seed of the subset draw (deterministic for a given seed).

    Returns
    -------
    X : (m, d) float64 array
        Images as rows in [0, 1]; ``d = 784`` for MNIST, ``64`` for the digits fallback.
    y : (m,) int64 array
        Labels 0..9.
    image_shape : tuple of int
        ``(28, 28)`` for MNIST, ``(8, 8)`` for the digits; ``X[i].reshape(image_shape)`` is an
        image.

    Warns
    -----
    DigitsFallbackWarning
        MNIST was not found (or could not be downloaded): the digits are used instead and
        results will differ from the lecture's.
    MnistSplitWarning
        Only the MNIST test split was found (see :func:`load_mnist`).

    Raises
    ------
    MnistCorruptError
        MNIST files are present but corrupt (never masked by the fallback).
    """
    if n is not None:
        n = check_positive_int(n, "n")
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"seed must be an integer; got {seed!r}")
    try:
        X, y = load_mnist(split=None, data_dir=data_dir, download=download)
        image_shape = MNIST_IMAGE_SHAPE
    except MnistNotFoundError as exc:
        from sklearn.datasets import load_digits

        warnings.warn(
            f"MNIST not available, using scikit-learn's 1,797 8x8 digits instead; results will "
            f"differ from the lecture's. {exc}",
            DigitsFallbackWarning,
            stacklevel=2,
        )
        digits = load_digits()
        X = np.asarray(digits.data, dtype=np.float64) / 16.0
        y = np.asarray(digits.target, dtype=np.int64)
        image_shape = (8, 8)
    if n is not None:
        m = X.shape[0]
        if n > m:
            warnings.warn(f"asked for n={n} examples but only {m} are available; returning all {m}",
                          UserWarning, stacklevel=2)
            n = m
        idx = np.random.default_rng(seed).choice(m, size=n, replace=False)
        X, y = X[idx], y[idx]
    return X, y, image_shape


# ----------------------------------------------------------------------------------------------
# Noisy 2-D curves (Im et al., Figure 3)
# ----------------------------------------------------------------------------------------------
def _curve_args(m, noise, seed):
    m = check_positive_int(m, "m")
    noise = check_nonneg_float(noise, "noise")
    if seed is not None and not isinstance(seed, np.random.Generator) and (
        isinstance(seed, bool) or not isinstance(seed, numbers.Integral)
    ):
        raise TypeError(f"seed must be None, an integer or a numpy Generator; got {seed!r}")
    if isinstance(seed, numbers.Integral) and seed < 0:
        raise ValueError(f"seed must be a non-negative integer; got {seed}")
    return m, noise, np.random.default_rng(seed)


def _with_noise(points, noise, rng):
    if noise > 0:
        points = points + noise * rng.standard_normal(points.shape)
    return np.ascontiguousarray(points, dtype=np.float64)


def make_line(m=500, noise=0.05, seed=None):
    """Noisy points on a line segment through the origin.

    The clean curve is ``t * (0.8, 0.6)`` with ``t ~ Uniform(-1, 1)``: a segment of length 2
    along the unit direction (0.8, 0.6), inside [-0.8, 0.8] x [-0.6, 0.6]. Gaussian white noise
    of standard deviation ``noise`` is added to each coordinate.

    Parameters
    ----------
    m : int
        Number of points (> 0).
    noise : float
        Standard deviation of the additive Gaussian noise (>= 0; 0 gives points on the curve).
    seed : int, numpy.random.Generator or None
        Randomness (``np.random.default_rng(seed)``); an int gives reproducible data.

    Returns
    -------
    X : (m, 2) float64 array
        Points as rows.
    """
    m, noise, rng = _curve_args(m, noise, seed)
    t = rng.uniform(-1.0, 1.0, size=m)
    return _with_noise(np.outer(t, [0.8, 0.6]), noise, rng)


def make_circle(m=500, noise=0.05, seed=None, radius=0.8):
    """Noisy points on a circle centred at the origin.

    The clean curve is ``radius * (cos a, sin a)`` with ``a ~ Uniform(0, 2 pi)``, plus
    Gaussian white noise of standard deviation ``noise`` on each coordinate.

    Parameters
    ----------
    m : int
        Number of points (> 0).
    noise : float
        Standard deviation of the additive Gaussian noise (>= 0).
    seed : int, numpy.random.Generator or None
        Randomness (``np.random.default_rng(seed)``).
    radius : float
        Radius of the circle (> 0); the default 0.8 keeps the data within about [-1, 1]^2.

    Returns
    -------
    X : (m, 2) float64 array
        Points as rows.
    """
    m, noise, rng = _curve_args(m, noise, seed)
    radius = check_nonneg_float(radius, "radius")
    if radius == 0:
        raise ValueError("radius must be > 0; got 0")
    a = rng.uniform(0.0, 2.0 * np.pi, size=m)
    return _with_noise(radius * np.column_stack([np.cos(a), np.sin(a)]), noise, rng)


def make_spiral(m=500, noise=0.05, seed=None, turns=2.0):
    """Noisy points on an Archimedean spiral centred at the origin.

    The clean curve is ``r(t) * (cos(2 pi turns t), sin(2 pi turns t))`` with radius
    ``r(t) = 0.1 + 0.8 t`` and ``t ~ Uniform(0, 1)``: it winds ``turns`` times outwards from
    radius 0.1 to 0.9, plus Gaussian white noise of standard deviation ``noise`` on each
    coordinate.

    Parameters
    ----------
    m : int
        Number of points (> 0).
    noise : float
        Standard deviation of the additive Gaussian noise (>= 0). Keep it below about half
        the gap between arms, ``0.8 / turns / 2``, or the arms blur together.
    seed : int, numpy.random.Generator or None
        Randomness (``np.random.default_rng(seed)``).
    turns : float
        Number of windings (> 0).

    Returns
    -------
    X : (m, 2) float64 array
        Points as rows.
    """
    m, noise, rng = _curve_args(m, noise, seed)
    turns = check_nonneg_float(turns, "turns")
    if turns == 0:
        raise ValueError("turns must be > 0; got 0")
    t = rng.uniform(0.0, 1.0, size=m)
    r = 0.1 + 0.8 * t
    angle = 2.0 * np.pi * turns * t
    return _with_noise(r[:, None] * np.column_stack([np.cos(angle), np.sin(angle)]), noise, rng)
