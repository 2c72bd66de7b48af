"""Tests of autoencoder_np.datasets: IDX loading, integrity checks, download, fallbacks, curves.

Everything runs on tiny synthetic IDX files in ``tmp_path``; the download path uses ``file://``
mirrors. Nothing here touches the network. The real MNIST test split is loaded only when
``../shared/data/mnist`` (or ``$AUTOENCODER_NP_DATA``) holds it.
"""
import gzip
import hashlib
import os
import struct
import warnings
from pathlib import Path

import numpy as np
import pytest

from autoencoder_np import datasets
from autoencoder_np.datasets import (
    DigitsFallbackWarning,
    MnistCorruptError,
    MnistDownloadError,
    MnistNotFoundError,
    MnistSplitWarning,
    load_images,
    load_mnist,
    make_circle,
    make_line,
    make_spiral,
)

N_TRAIN, N_TEST = 5, 3  # tiny synthetic splits (different sizes, so we can tell them apart)
NAMES = {split: datasets.MNIST_FILES[split] for split in ("train", "test")}


# ----------------------------------------------------------------------------------------------
# Helpers: synthetic IDX files
# ----------------------------------------------------------------------------------------------
def idx_images(pixels, magic=2051, rows=28, cols=28, count=None):
    count = len(pixels) if count is None else count
    return struct.pack(">IIII", magic, count, rows, cols) + np.asarray(pixels, dtype=np.uint8).tobytes()


def idx_labels(labels, magic=2049, count=None):
    count = len(labels) if count is None else count
    return struct.pack(">II", magic, count) + np.asarray(labels, dtype=np.uint8).tobytes()


def synthetic_split(count, seed):
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, size=(count, 28, 28), dtype=np.uint8)
    pixels[0, 0, 0], pixels[-1, -1, -1] = 0, 255  # the full range is present
    labels = rng.integers(0, 10, size=count, dtype=np.uint8)
    return pixels, labels


def md5(data):
    return hashlib.md5(data).hexdigest()


def write(path, data, compress):
    """Write ``data`` to ``path`` (+ ``.gz`` when compressing); return the bytes written."""
    if compress:
        data = gzip.compress(data, mtime=0)
        path = path.with_name(path.name + ".gz")
    path.write_bytes(data)
    return data


@pytest.fixture
def splits():
    """``{split: (pixels (count, 28, 28) uint8, labels (count,) uint8)}``."""
    return {"train": synthetic_split(N_TRAIN, 1), "test": synthetic_split(N_TEST, 2)}


@pytest.fixture
def checksums(monkeypatch):
    """A fresh expected-MD5 table (module-level dict patched); tests register their files in it."""
    table = {}
    monkeypatch.setattr(datasets, "MNIST_MD5", table)
    return table


def put_split(directory, split, pixels, labels, compress, checksums=None):
    """Write one split's two IDX files into ``directory``; register gz checksums."""
    directory.mkdir(parents=True, exist_ok=True)
    img_name, lab_name = NAMES[split]
    for name, data in ((img_name, idx_images(pixels)), (lab_name, idx_labels(labels))):
        written = write(directory / name, data, compress)
        if compress and checksums is not None:
            checksums[name + ".gz"] = md5(written)


@pytest.fixture
def no_env(monkeypatch, tmp_path):
    """No AUTOENCODER_NP_DATA, and the user cache redirected into tmp_path."""
    monkeypatch.delenv(datasets.ENV_VAR, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    return tmp_path / "xdg" / "autoencoder_np" / "mnist"


def assert_split(X, y, pixels, labels):
    assert X.dtype == np.float64 and y.dtype == np.int64
    assert X.shape == (len(pixels), 784) and y.shape == (len(labels),)
    np.testing.assert_array_equal(X, pixels.reshape(len(pixels), -1) / 255.0)
    np.testing.assert_array_equal(y, labels)
    assert X.min() == 0.0 and X.max() == 1.0


# ----------------------------------------------------------------------------------------------
# Reading gz and raw files
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("compress", [True, False], ids=["gz", "raw"])
@pytest.mark.parametrize("split", ["train", "test"])
def test_load_synthetic_split(tmp_path, splits, checksums, compress, split):
    for s in ("train", "test"):
        put_split(tmp_path, s, *splits[s], compress=compress, checksums=checksums)
    X, y = load_mnist(split, data_dir=tmp_path)
    assert_split(X, y, *splits[split])


def test_gz_preferred_over_raw(tmp_path, splits, checksums):
    put_split(tmp_path, "test", *splits["test"], compress=True, checksums=checksums)
    (tmp_path / NAMES["test"][0]).write_bytes(b"this raw file would be rejected")
    X, y = load_mnist("test", data_dir=tmp_path)
    assert_split(X, y, *splits["test"])


def test_mixed_gz_and_raw_pair(tmp_path, splits, checksums):
    pixels, labels = splits["test"]
    written = write(tmp_path / NAMES["test"][0], idx_images(pixels), compress=True)
    checksums[NAMES["test"][0] + ".gz"] = md5(written)
    write(tmp_path / NAMES["test"][1], idx_labels(labels), compress=False)
    X, y = load_mnist("test", data_dir=tmp_path)
    assert_split(X, y, pixels, labels)


def test_split_none_prefers_train(tmp_path, splits, checksums):
    for s in ("train", "test"):
        put_split(tmp_path, s, *splits[s], compress=True, checksums=checksums)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        X, y = load_mnist(data_dir=tmp_path)
    assert_split(X, y, *splits["train"])


def test_split_none_falls_back_to_test_with_warning(tmp_path, splits, checksums):
    put_split(tmp_path, "test", *splits["test"], compress=True, checksums=checksums)
    with pytest.warns(MnistSplitWarning, match="test split") as record:
        X, y = load_mnist(split=None, data_dir=tmp_path)
    assert issubclass(record[0].category, UserWarning)
    assert_split(X, y, *splits["test"])


# ----------------------------------------------------------------------------------------------
# Corrupt files
# ----------------------------------------------------------------------------------------------
def _corrupt_cases(pixels, labels):
    good_img, good_lab = idx_images(pixels), idx_labels(labels)
    return {
        "bad image magic": (idx_images(pixels, magic=2049), good_lab, 0, "magic"),
        "bad label magic": (good_img, idx_labels(labels, magic=2051), 1, "magic"),
        "truncated images": (good_img[:-100], good_lab, 0, "truncated"),
        "truncated labels": (good_img, good_lab[:-1], 1, "truncated"),
        "header only fragment": (good_img[:10], good_lab, 0, "truncated"),
        "trailing bytes": (good_img + b"\0" * 7, good_lab, 0, "trailing"),
        "wrong image size": (idx_images(pixels.reshape(len(pixels), 28 * 28)[:, :14 * 56].reshape(-1, 14, 56),
                                        rows=14, cols=56), good_lab, 0, "14 x 56"),
        "label out of range": (good_img, idx_labels(np.r_[labels[:-1], 12]), 1, "out of range"),
        "count mismatch": (good_img, idx_labels(labels[:-1]), None, "do not belong together"),
    }


@pytest.mark.parametrize("compress", [True, False], ids=["gz", "raw"])
@pytest.mark.parametrize("case", list(_corrupt_cases(*synthetic_split(N_TEST, 2))))
def test_corrupt_idx_raises_naming_file(tmp_path, checksums, compress, case):
    img, lab, bad, phrase = _corrupt_cases(*synthetic_split(N_TEST, 2))[case]
    for name, data in zip(NAMES["test"], (img, lab)):
        written = write(tmp_path / name, data, compress)
        if compress:
            checksums[name + ".gz"] = md5(written)  # the checksum passes; the contents must not
    with pytest.raises(MnistCorruptError, match=phrase) as info:
        load_mnist("test", data_dir=tmp_path)
    assert isinstance(info.value, ValueError)
    names = NAMES["test"] if bad is None else [NAMES["test"][bad]]
    for name in names:
        assert name in str(info.value)


@pytest.mark.parametrize("kind", ["garbage", "truncated gzip"])
def test_bad_gzip_raises_naming_file(tmp_path, splits, checksums, kind):
    put_split(tmp_path, "test", *splits["test"], compress=True, checksums=checksums)
    path = tmp_path / (NAMES["test"][0] + ".gz")
    data = b"definitely not gzip data" * 10 if kind == "garbage" else path.read_bytes()[:200]
    path.write_bytes(data)
    checksums[path.name] = md5(data)
    with pytest.raises(MnistCorruptError, match="gzip") as info:
        load_mnist("test", data_dir=tmp_path)
    assert path.name in str(info.value)


def test_checksum_mismatch_raises(tmp_path, splits):
    # Synthetic gz files checked against the real published MD5 table: they must be refused.
    put_split(tmp_path, "test", *splits["test"], compress=True)
    before = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(MnistCorruptError, match="checksum") as info:
        load_mnist("test", data_dir=tmp_path)
    msg = str(info.value)
    assert NAMES["test"][0] + ".gz" in msg and datasets.MNIST_MD5[NAMES["test"][0] + ".gz"] in msg
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing added or removed


# ----------------------------------------------------------------------------------------------
# Not found, search order, argument checks
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("split", ["train", "test", None])
def test_missing_files_error_is_helpful(tmp_path, split):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(MnistNotFoundError) as info:
        load_mnist(split, data_dir=empty)
    assert isinstance(info.value, FileNotFoundError)
    msg = str(info.value)
    assert str(empty) in msg and "download=True" in msg and "AUTOENCODER_NP_DATA" in msg
    for s in ("train", "test") if split is None else (split,):
        for name in NAMES[s]:
            assert name + ".gz" in msg
    assert list(empty.iterdir()) == []  # download=False never writes


def test_only_one_file_of_pair_is_not_found(tmp_path, splits, checksums):
    put_split(tmp_path, "test", *splits["test"], compress=True, checksums=checksums)
    (tmp_path / (NAMES["test"][1] + ".gz")).unlink()
    with pytest.raises(MnistNotFoundError) as info:
        load_mnist("test", data_dir=tmp_path)
    assert f"missing: {NAMES['test'][1]}.gz." in str(info.value)  # only the absent file is listed


def test_search_order(tmp_path, monkeypatch, no_env):
    explicit, env = tmp_path / "explicit", tmp_path / "env"
    assert datasets.resolve_data_dir(explicit)[0] == explicit
    assert datasets.resolve_data_dir()[0] == no_env  # XDG_CACHE_HOME honoured
    monkeypatch.setenv(datasets.ENV_VAR, str(env))
    assert datasets.resolve_data_dir()[0] == env
    assert datasets.resolve_data_dir(str(explicit))[0] == explicit  # the argument wins
    monkeypatch.setenv(datasets.ENV_VAR, "")
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert datasets.default_cache_dir() == tmp_path / "home" / ".cache" / "autoencoder_np" / "mnist"
    assert datasets.resolve_data_dir()[0] == datasets.default_cache_dir()


def test_env_var_is_used(tmp_path, monkeypatch, splits, checksums):
    put_split(tmp_path / "viaenv", "test", *splits["test"], compress=False)
    monkeypatch.setenv(datasets.ENV_VAR, str(tmp_path / "viaenv"))
    X, y = load_mnist("test")
    assert_split(X, y, *splits["test"])
    with pytest.raises(MnistNotFoundError, match="AUTOENCODER_NP_DATA environment variable"):
        load_mnist("train")


@pytest.mark.parametrize(
    "kwargs, exc",
    [({"split": "validation"}, ValueError), ({"split": 1}, ValueError), ({"data_dir": 3}, TypeError),
     ({"data_dir": ""}, ValueError), ({"download": "yes"}, TypeError)],
)
def test_load_mnist_bad_arguments(tmp_path, kwargs, exc):
    kwargs.setdefault("data_dir", tmp_path)
    with pytest.raises(exc):
        load_mnist(**kwargs)


# ----------------------------------------------------------------------------------------------
# Download (file:// mirrors only)
# ----------------------------------------------------------------------------------------------
@pytest.fixture
def mirror(tmp_path, splits, checksums):
    """A directory of valid synthetic gz files served as a ``file://`` mirror."""
    path = tmp_path / "mirror"
    for s in ("train", "test"):
        put_split(path, s, *splits[s], compress=True, checksums=checksums)
    return path


def _uri(path):
    return path.as_uri() + "/"


def _files(directory):
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


def test_download_puts_verified_files_in_cache(tmp_path, monkeypatch, splits, checksums, mirror, no_env):
    monkeypatch.setattr(datasets, "MNIST_MIRRORS", (_uri(mirror),))
    X, y = load_mnist("test", download=True)
    assert_split(X, y, *splits["test"])
    assert _files(no_env) == sorted(n + ".gz" for n in NAMES["test"])  # no temp files left
    for name in NAMES["test"]:
        assert md5((no_env / (name + ".gz")).read_bytes()) == checksums[name + ".gz"]
    # Cached now: a second load needs no mirror.
    monkeypatch.setattr(datasets, "MNIST_MIRRORS", ())
    X2, y2 = load_mnist("test")
    np.testing.assert_array_equal(X2, X)
    np.testing.assert_array_equal(y2, y)


def test_download_only_fetches_missing_and_tries_next_mirror(tmp_path, monkeypatch, splits, checksums, mirror):
    target = tmp_path / "data"
    put_split(target, "train", *splits["train"], compress=False)
    (target / NAMES["train"][0]).unlink()  # raw labels present, images missing
    monkeypatch.setattr(datasets, "MNIST_MIRRORS", (_uri(tmp_path / "no-such-mirror"), _uri(mirror)))
    X, y = load_mnist("train", data_dir=target, download=True)
    assert_split(X, y, *splits["train"])
    assert _files(target) == sorted([NAMES["train"][0] + ".gz", NAMES["train"][1]])


def test_split_none_download_gets_train(tmp_path, monkeypatch, splits, checksums, mirror):
    target = tmp_path / "data"
    put_split(target, "test", *splits["test"], compress=True, checksums=checksums)
    monkeypatch.setattr(datasets, "MNIST_MIRRORS", (_uri(mirror),))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        X, y = load_mnist(None, data_dir=target, download=True)
    assert_split(X, y, *splits["train"])


def test_mismatching_download_leaves_nothing(tmp_path, monkeypatch, splits, checksums, mirror, no_env):
    bad = tmp_path / "bad-mirror"
    bad.mkdir()
    for name in NAMES["train"] + NAMES["test"]:
        (bad / (name + ".gz")).write_bytes(gzip.compress(b"tampered", mtime=0))
    monkeypatch.setattr(datasets, "MNIST_MIRRORS", (_uri(bad),))
    with pytest.raises(MnistCorruptError, match="checksum") as info:
        load_mnist("test", download=True)
    assert NAMES["test"][0] + ".gz" in str(info.value)
    assert _files(no_env) == []  # neither the file nor a temporary was kept
    # load_images must surface the mismatch, not fall back to the digits.
    with warnings.catch_warnings():
        warnings.simplefilter("error", DigitsFallbackWarning)
        with pytest.raises(MnistCorruptError):
            load_images(data_dir=no_env, download=True)
    assert _files(no_env) == []


def test_bad_first_mirror_then_good_second(tmp_path, monkeypatch, splits, checksums, mirror):
    bad = tmp_path / "bad-mirror"
    bad.mkdir()
    for name in NAMES["test"]:
        (bad / (name + ".gz")).write_bytes(b"tampered")
    monkeypatch.setattr(datasets, "MNIST_MIRRORS", (_uri(bad), _uri(mirror)))
    X, y = load_mnist("test", data_dir=tmp_path / "data", download=True)
    assert_split(X, y, *splits["test"])
    assert _files(tmp_path / "data") == sorted(n + ".gz" for n in NAMES["test"])


def test_unreachable_mirrors(tmp_path, monkeypatch, splits, checksums):
    checksums.update({n + ".gz": "0" * 32 for s in ("train", "test") for n in NAMES[s]})
    monkeypatch.setattr(datasets, "MNIST_MIRRORS", (_uri(tmp_path / "nowhere"), _uri(tmp_path / "nowhere2")))
    target = tmp_path / "data"
    with pytest.raises(MnistDownloadError, match="could not download") as info:
        load_mnist("test", data_dir=target, download=True)
    assert isinstance(info.value, FileNotFoundError)
    assert _files(target) == []
    # split=None: the test split on disk still serves when the training split cannot be fetched.
    put_split(target, "test", *splits["test"], compress=True, checksums=checksums)
    with pytest.warns(MnistSplitWarning, match="could not be downloaded"):
        X, y = load_mnist(data_dir=target, download=True)
    assert_split(X, y, *splits["test"])
    assert _files(target) == sorted(n + ".gz" for n in NAMES["test"])


# ----------------------------------------------------------------------------------------------
# load_images
# ----------------------------------------------------------------------------------------------
@pytest.fixture
def empty_dir(tmp_path, no_env):
    path = tmp_path / "empty"
    path.mkdir()
    return path


def test_load_images_falls_back_to_digits(empty_dir):
    with pytest.warns(DigitsFallbackWarning) as record:
        X, y, shape = load_images(data_dir=empty_dir)
    msg = str(record[0].message)
    assert "MNIST" in msg and str(empty_dir) in msg and "differ" in msg
    assert issubclass(record[0].category, UserWarning)
    assert shape == (8, 8)
    assert X.shape == (1797, 64) and X.dtype == np.float64
    assert y.shape == (1797,) and y.dtype == np.int64
    assert X.min() == 0.0 and X.max() == 1.0
    assert set(np.unique(y)) == set(range(10))


def test_load_images_fallback_with_default_directory(no_env):
    with pytest.warns(DigitsFallbackWarning, match=str(no_env)):
        X, _, shape = load_images(n=7)
    assert shape == (8, 8) and X.shape == (7, 64)


def test_load_images_subset_is_deterministic(empty_dir):
    with pytest.warns(DigitsFallbackWarning):
        X_all, y_all, _ = load_images(data_dir=empty_dir)
        X1, y1, _ = load_images(40, data_dir=empty_dir, seed=3)
        X2, y2, _ = load_images(40, data_dir=empty_dir, seed=3)
        X3, _, _ = load_images(40, data_dir=empty_dir, seed=4)
    assert X1.shape == (40, 64) and y1.shape == (40,)
    np.testing.assert_array_equal(X1, X2)
    np.testing.assert_array_equal(y1, y2)
    assert not np.array_equal(X1, X3)
    # The subset consists of distinct rows of the full data with matching labels.
    rows = {row.tobytes(): label for row, label in zip(X_all, y_all)}
    assert len({r.tobytes() for r in X1}) == len(np.unique(X1, axis=0)) == 40
    assert all(rows[r.tobytes()] == label for r, label in zip(X1, y1))


def test_load_images_n_larger_than_data(tmp_path, splits, checksums):
    put_split(tmp_path, "train", *splits["train"], compress=True, checksums=checksums)
    with pytest.warns(UserWarning, match="only 5 are available"):
        X, y, shape = load_images(n=50, data_dir=tmp_path)
    assert shape == (28, 28) and X.shape == (N_TRAIN, 784)
    assert sorted(y.tolist()) == sorted(splits["train"][1].tolist())


def test_load_images_uses_mnist(tmp_path, splits, checksums):
    put_split(tmp_path, "train", *splits["train"], compress=True, checksums=checksums)
    put_split(tmp_path, "test", *splits["test"], compress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        X, y, shape = load_images(data_dir=tmp_path)
        Xs, ys, _ = load_images(n=2, data_dir=tmp_path, seed=0)
    assert shape == (28, 28)
    assert_split(X, y, *splits["train"])
    assert Xs.shape == (2, 784)
    for row, label in zip(Xs, ys):
        i = int(np.flatnonzero((X == row).all(axis=1))[0])
        assert y[i] == label


def test_load_images_surfaces_corrupt_mnist(tmp_path, splits):
    put_split(tmp_path, "test", *splits["test"], compress=True)  # fails the real checksums
    with warnings.catch_warnings():
        warnings.simplefilter("error", DigitsFallbackWarning)
        with pytest.warns(MnistSplitWarning), pytest.raises(MnistCorruptError, match="checksum"):
            load_images(data_dir=tmp_path)


@pytest.mark.parametrize("n, exc", [(0, ValueError), (-3, ValueError), (2.5, TypeError), (True, TypeError),
                                    ("10", TypeError)])
def test_load_images_bad_n(empty_dir, n, exc):
    with pytest.raises(exc, match="n must be a positive integer"):
        load_images(n, data_dir=empty_dir)


def test_load_images_bad_seed(empty_dir):
    with pytest.raises(TypeError, match="seed"):
        load_images(5, data_dir=empty_dir, seed=1.5)


# ----------------------------------------------------------------------------------------------
# Real MNIST test split (skipped when absent)
# ----------------------------------------------------------------------------------------------
def _real_mnist_dir():
    candidates = [Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"]
    if os.environ.get(datasets.ENV_VAR):
        candidates.append(Path(os.environ[datasets.ENV_VAR]))
    for path in candidates:
        if all((path / (name + ".gz")).is_file() or (path / name).is_file() for name in NAMES["test"]):
            return path
    return None


REAL_MNIST = _real_mnist_dir()


@pytest.mark.skipif(REAL_MNIST is None, reason="MNIST test split not available")
def test_real_mnist_test_split():
    X, y = load_mnist("test", data_dir=REAL_MNIST)
    assert X.shape == (10000, 784) and X.dtype == np.float64
    assert y.shape == (10000,) and y.dtype == np.int64
    assert X.min() == 0.0 and X.max() == 1.0
    assert set(np.unique(y).tolist()) == set(range(10))
    assert y[0] == 7
    assert 0.05 < X.mean() < 0.25  # mostly dark background, some ink


# ----------------------------------------------------------------------------------------------
# Curves
# ----------------------------------------------------------------------------------------------
CURVES = [make_line, make_circle, make_spiral]


@pytest.mark.parametrize("make", CURVES)
def test_curve_shape_dtype_and_determinism(make):
    X = make(m=37, noise=0.05, seed=11)
    assert X.shape == (37, 2) and X.dtype == np.float64
    assert np.isfinite(X).all()
    np.testing.assert_array_equal(X, make(m=37, noise=0.05, seed=11))
    np.testing.assert_array_equal(X, make(m=37, noise=0.05, seed=np.random.default_rng(11)))
    assert not np.array_equal(X, make(m=37, noise=0.05, seed=12))
    default = make(seed=0)
    assert default.shape == (500, 2)
    assert np.abs(default).max() < 1.2  # roughly within [-1, 1]


def test_noise_free_points_lie_on_the_curves():
    line = make_line(m=50, noise=0.0, seed=0)
    np.testing.assert_allclose(0.6 * line[:, 0], 0.8 * line[:, 1], atol=1e-12)
    assert np.abs(line[:, 0]).max() <= 0.8
    circle = make_circle(m=50, noise=0.0, seed=0, radius=0.7)
    np.testing.assert_allclose(np.hypot(*circle.T), 0.7, rtol=1e-12)
    spiral = make_spiral(m=50, noise=0.0, seed=0, turns=3.0)
    r = np.hypot(*spiral.T)
    assert r.min() >= 0.1 - 1e-12 and r.max() <= 0.9 + 1e-12
    # On the spiral the angle is fixed by the radius: t = (r - 0.1) / 0.8, angle = 2 pi turns t.
    t = (r - 0.1) / 0.8
    np.testing.assert_allclose(spiral, r[:, None] * np.column_stack(
        [np.cos(6 * np.pi * t), np.sin(6 * np.pi * t)]), atol=1e-9)


def test_noise_level():
    noise = 0.04
    clean = make_circle(m=20000, noise=0.0, seed=5)
    noisy = make_circle(m=20000, noise=noise, seed=5)
    resid = noisy - clean  # same parameter draws, then the noise
    assert resid.std(axis=0) == pytest.approx([noise, noise], rel=0.05)
    assert np.abs(resid.mean(axis=0)).max() < 5 * noise / np.sqrt(20000)


@pytest.mark.parametrize("make", CURVES)
@pytest.mark.parametrize(
    "kwargs, exc",
    [({"m": 0}, ValueError), ({"m": -5}, ValueError), ({"m": 2.5}, TypeError), ({"m": True}, TypeError),
     ({"noise": -0.1}, ValueError), ({"noise": float("nan")}, ValueError), ({"noise": "0.1"}, TypeError),
     ({"seed": "a"}, TypeError), ({"seed": 1.5}, TypeError), ({"seed": -1}, ValueError)],
)
def test_curve_bad_arguments(make, kwargs, exc):
    with pytest.raises(exc):
        make(**kwargs)


@pytest.mark.parametrize("make, kwargs, exc", [
    (make_circle, {"radius": 0}, ValueError), (make_circle, {"radius": -1.0}, ValueError),
    (make_circle, {"radius": "big"}, TypeError), (make_spiral, {"turns": 0}, ValueError),
    (make_spiral, {"turns": -2}, ValueError), (make_spiral, {"turns": None}, TypeError),
])
def test_curve_shape_parameters_validated(make, kwargs, exc):
    with pytest.raises(exc):
        make(**kwargs)
