"""Plain data between the grader and a student's kernel: JSON, arrays as dtype + shape + bytes.

Never pickle: a hostile kernel can send anything, so decoding accepts only a fixed set of types
(numbers, strings, lists, tuples, dicts, NumPy arrays and scalars of a few dtypes, random
generators, references to the grader's callables, and raised exceptions by name), with limits on
size and depth. This module needs only the standard library and NumPy: its source is also what
the kernel runs to encode its replies (one codec, both sides).
"""
import base64
import json

import numpy as np

#: NumPy dtypes that cross the boundary.
DTYPES = ("float64", "float32", "int64", "int32", "int8", "uint8", "bool", "complex128")
#: Deepest nesting accepted, most elements in one container, most bytes in one message.
MAX_DEPTH = 12
MAX_ITEMS = 100_000
MAX_BYTES = 32 * 1024 * 1024


class CodecError(ValueError):
    """The data is malformed, of a type that does not cross the boundary, or too large."""


class KernelCode:
    """A function a test sends into the kernel as source (a given of the problem, such as the
    loss a training loop is handed, never an expected value), to be called there without a round
    trip to the grader per call. Only the kernel side turns it back into a function."""

    def __init__(self, source, name):
        self.source, self.name = str(source), str(name)


def encode(value, callables=None, depth=0):
    """``value`` as JSON-ready data. ``callables`` (a list) collects functions passed as
    arguments: each is sent as ``{"__callable__": index}``."""
    if depth > MAX_DEPTH:
        raise CodecError("nested too deeply")
    if value is None or isinstance(value, (bool, str)) or type(value) is int:
        return value
    if type(value) is float:
        return {"__float__": value.hex()}
    if isinstance(value, np.ndarray):
        if str(value.dtype) not in DTYPES:
            raise CodecError(f"arrays of dtype {value.dtype} do not cross (expected one of {DTYPES})")
        data = np.ascontiguousarray(value).tobytes()
        return {"__nd__": [str(value.dtype), list(value.shape), base64.b64encode(data).decode()]}
    if isinstance(value, np.generic):
        return {"__np__": encode(np.asarray(value), callables, depth + 1)}
    if isinstance(value, np.random.Generator):
        return {"__rng__": encode_state(value.bit_generator.state)}
    if isinstance(value, tuple):
        return {"__tuple__": [encode(v, callables, depth + 1) for v in _bounded(value)]}
    if isinstance(value, list):
        return [encode(v, callables, depth + 1) for v in _bounded(value)]
    if isinstance(value, dict):
        return {"__dict__": [[encode(k, callables, depth + 1), encode(v, callables, depth + 1)]
                             for k, v in _bounded(list(value.items()))]}
    if isinstance(value, KernelCode):
        return {"__code__": [value.source, value.name]}
    if callable(value) and callables is not None:
        callables.append(value)
        return {"__callable__": len(callables) - 1}
    raise CodecError(f"a {type(value).__name__} does not cross between grader and kernel")


def encode_state(state):
    """A bit generator's state (nested dicts of ints and strings) as plain JSON."""
    return json.loads(json.dumps(state, default=int))


def _bounded(items):
    if len(items) > MAX_ITEMS:
        raise CodecError(f"more than {MAX_ITEMS} elements in one container")
    return items


def decode(data, make_callable=None, depth=0, run_code=None):
    """The value that :func:`encode` encoded. ``make_callable(index)`` turns a callable
    reference into a function (None: callables are refused); ``run_code(source, name)`` turns
    :class:`KernelCode` into one (the kernel side only: the grader never runs code it receives)."""
    if depth > MAX_DEPTH:
        raise CodecError("nested too deeply")
    if data is None or isinstance(data, (bool, str)) or type(data) is int:
        return data
    if isinstance(data, list):
        return [decode(v, make_callable, depth + 1, run_code) for v in _bounded(data)]
    if not isinstance(data, dict) or len(data) != 1:
        raise CodecError(f"unexpected {type(data).__name__} in the data")
    (tag, body), = data.items()
    if tag == "__float__" and isinstance(body, str):
        return float.fromhex(body)
    if tag == "__nd__":
        return _array(body)
    if tag == "__np__":
        arr = decode(body, None, depth + 1)
        if not isinstance(arr, np.ndarray) or arr.shape != ():
            raise CodecError("a NumPy scalar must be a 0-d array")
        return arr[()]
    if tag == "__rng__" and isinstance(body, dict):
        name = body.get("bit_generator")
        if name not in ("PCG64", "PCG64DXSM", "MT19937", "Philox", "SFC64"):
            raise CodecError(f"unknown bit generator {name!r}")
        bits = getattr(np.random, name)()
        bits.state = body
        return np.random.Generator(bits)
    if tag == "__tuple__" and isinstance(body, list):
        return tuple(decode(v, make_callable, depth + 1, run_code) for v in _bounded(body))
    if tag == "__dict__" and isinstance(body, list):
        out = {}
        for pair in _bounded(body):
            if not (isinstance(pair, list) and len(pair) == 2):
                raise CodecError("a dict entry must be a [key, value] pair")
            key = decode(pair[0], None, depth + 1)
            if not isinstance(key, (str, int, float, bool, tuple)) and key is not None:
                raise CodecError("dict keys must be plain values")
            out[key] = decode(pair[1], make_callable, depth + 1, run_code)
        return out
    if tag == "__callable__" and type(body) is int and make_callable is not None:
        return make_callable(body)
    if tag == "__code__" and run_code is not None and isinstance(body, list) and len(body) == 2:
        return run_code(str(body[0]), str(body[1]))
    raise CodecError(f"unknown or malformed entry {tag!r}")


def _array(body):
    if not (isinstance(body, list) and len(body) == 3 and body[0] in DTYPES
            and isinstance(body[1], list) and all(type(d) is int and d >= 0 for d in body[1])
            and isinstance(body[2], str)):
        raise CodecError("an array must be [dtype, shape, base64 bytes] with a known dtype")
    dtype, shape = np.dtype(body[0]), tuple(body[1])
    raw = base64.b64decode(body[2].encode(), validate=True)
    if len(raw) != int(np.prod(shape, dtype=np.int64)) * dtype.itemsize:
        raise CodecError(f"{len(raw)} bytes do not make an array of shape {shape} and dtype {dtype}")
    return np.frombuffer(raw, dtype=dtype).reshape(shape).copy()


def dumps(value, callables=None):
    """``value`` as one line of JSON text."""
    return json.dumps(encode(value, callables), separators=(",", ":"))


def loads(text, make_callable=None):
    """The value in one line of JSON text (bounded in size)."""
    if len(text) > MAX_BYTES:
        raise CodecError(f"more than {MAX_BYTES} bytes of data")
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise CodecError(f"not JSON: {exc}") from None
    return decode(data, make_callable)
