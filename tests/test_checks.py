"""Tests decided outside the kernel (aegrade.checks): the codec's boundary and the verdicts.

Fast unit tests, no kernel: the codec round-trips what crosses and refuses everything else; a
test cell's verdict comes from the instructor's code run against a stand-in kernel, and what the
student reads of a failed hidden test names no expected value.
"""
import json

import numpy as np
import pytest

from aegrade.checks import codec
from aegrade.checks.helpers import StudentFunction, _call, in_kernel
from aegrade.checks.verdict import TrustedTests, top_level_names


# ---------------------------------------------------------------------------- codec
@pytest.mark.parametrize("value", [
    None, True, 3, -7, 0.1, float("inf"), "text", [1, [2.5, "x"]], (1, 2.0), {"W": 1.0, 2: "b"},
    np.arange(12.0).reshape(3, 4), np.float64(0.25), np.int64(3), np.array([True, False]),
    np.zeros((2, 0, 3), dtype=np.float32), np.array(1e-300),
])
def test_codec_round_trips_plain_data_exactly(value):
    back = codec.loads(codec.dumps(value))
    assert type(back) is type(value)
    if isinstance(value, np.ndarray):
        assert back.dtype == value.dtype and back.shape == value.shape and np.array_equal(back, value)
    else:
        assert back == value


def test_codec_round_trips_a_random_generator_in_its_state():
    rng = np.random.default_rng(7)
    back = codec.loads(codec.dumps(rng))
    assert back.random(3).tolist() == np.random.default_rng(7).random(3).tolist()


@pytest.mark.parametrize("value", [object(), {1, 2}, np.array([object()]), b"bytes", 1 + 2j])
def test_codec_refuses_what_does_not_cross(value):
    with pytest.raises(codec.CodecError):
        codec.dumps(value)


@pytest.mark.parametrize("text", [
    '{"__pickle__": "gASV"}',                                  # an unknown tag
    '{"__nd__": ["float64", [2, 2], "AAAA"]}',                 # bytes do not fill the shape
    '{"__nd__": ["object", [1], "AAAAAAAAAAA="]}',             # a dtype that does not cross
    '{"__callable__": 0}',                                     # the grader never takes callables
    '{"__code__": ["import os", "os"]}',                       # ... nor code to run
    '{"__float__": 1.5}', '{"a": 1, "b": 2}', "not json",
    "[" * 40 + "]" * 40,                                        # nested too deeply
])
def test_codec_refuses_malformed_or_dangerous_data(text):
    with pytest.raises(codec.CodecError):
        codec.loads(text)


def test_codec_bounds_the_size_of_a_message():
    with pytest.raises(codec.CodecError, match="bytes"):
        codec.loads(" " * (codec.MAX_BYTES + 1))


def test_grader_functions_cross_as_references_and_kernel_code_as_source():
    callables = []
    data = codec.encode([len, codec.KernelCode("def f(x):\n    return x", "f")], callables)
    assert callables == [len] and data[0] == {"__callable__": 0}
    assert data[1] == {"__code__": ["def f(x):\n    return x", "f"]}


# ---------------------------------------------------------------------------- verdicts
class FakeKernel:
    """Stands for a student's kernel: ``answers[name](*args)`` computes what it returns."""

    def __init__(self, answers):
        self.answers, self.log = answers, []

    def call(self, name, args, kwargs, *, stable=False):
        self.log.append((name, stable))
        if name not in self.answers:
            raise NameError(f"name {name!r} is not defined")
        # the kernel works on its own copies, as the real one does (arguments are data)
        args = codec.loads(codec.dumps(list(args)))
        value = self.answers[name](*args, **kwargs)
        return value, args, kwargs


CELLS = {
    "setup": ("import numpy as np\nSCALE = 2.0", "code", True),
    "double": ("def double(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION", "code", False),
    "test_double": ("out = double(np.array([1.0]))\nassert out.tolist() == [2.0], 'visible: double([1]) is [2]'\n"
                    "### BEGIN HIDDEN TESTS\nx = np.array([3.0, 4.0])\nbefore = x.tolist()\n"
                    "assert _call(double, x).tolist() == [6.0, 8.0], f'expected {[6.0, 8.0]}'\n"
                    "assert x.tolist() == before, 'double must not modify x'\n### END HIDDEN TESTS",
                    "code", True),
}


def _tests(answers):
    kernel = FakeKernel(answers)
    trusted = TrustedTests(CELLS, {"double"}, {"test_double"}, kernel)
    trusted.setup("setup")
    return trusted, kernel


def test_a_right_answer_passes_and_the_student_function_ran_in_the_kernel():
    trusted, kernel = _tests({"double": lambda x: 2.0 * x})
    assert trusted.check("test_double").passed
    assert [name for name, _ in kernel.log] == ["double", "double"]
    assert trusted.ns["SCALE"] == 2.0  # the instructor's setup ran in the grader's namespace


def test_a_wrong_hidden_value_fails_without_showing_the_expected_value():
    trusted, _ = _tests({"double": lambda x: x if x.size > 1 else 2.0 * x})
    verdict = trusted.check("test_double")
    assert not verdict.passed and verdict.message == "a hidden test failed"
    assert "6.0" not in verdict.message


def test_a_failed_visible_test_shows_its_own_message():
    trusted, _ = _tests({"double": lambda x: 3.0 * x})
    verdict = trusted.check("test_double")
    assert not verdict.passed and verdict.message == "visible: double([1]) is [2]"


def test_an_input_modified_in_the_kernel_is_seen_by_the_test():
    def double_in_place(x):
        x *= 2.0
        return x.copy()

    trusted, _ = _tests({"double": double_in_place})
    assert not trusted.check("test_double").passed  # the written-back x differs from `before`


def test_a_missing_function_or_a_student_exception_fails():
    trusted, _ = _tests({})
    assert not trusted.check("test_double").passed
    trusted, _ = _tests({"double": lambda x: [][1]})
    assert not trusted.check("test_double").passed


def test_names_bound_by_the_solution_are_stand_ins():
    assert top_level_names(CELLS["double"][0]) == {"double"}
    trusted, _ = _tests({})
    assert isinstance(trusted.ns["double"], StudentFunction)


def test_stable_calls_tell_the_kernel_and_in_kernel_is_the_function_outside_grading():
    kernel = FakeKernel({"f": lambda x: x})
    f = StudentFunction("f", kernel)
    _call(f, np.ones(2), stable=True)
    assert kernel.log == [("f", True)]

    def given(x):
        return x

    assert in_kernel(given) is given  # an instructor running the notebook gets the function


def test_results_cross_as_json_text_only():
    text = codec.dumps({"value": np.ones((2, 3))})
    assert isinstance(json.loads(text), dict) and "pickle" not in text
