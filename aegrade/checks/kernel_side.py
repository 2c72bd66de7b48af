"""What runs in the student's kernel for one call (its source is sent there, after the codec's).

It runs in a namespace of its own (never the notebook's), looks the student's function up in the
notebook's namespace, calls it on the decoded arguments, and sends back, through the kernel's
``input()`` channel (to the grader's client only), the result, the arguments as they are after
the call, or the exception raised. A function the grader passed as an argument becomes a stub
that asks the grader to call it. Nothing here decides a score: the grader does, on the data.

Never imported: the grader reads this file and runs it after the codec, with ``_USER_NS``,
``_NONCE`` and ``_REQUEST`` set (hence the names the linter cannot see).
"""
import warnings as _warnings


def _reply(tag, payload):
    """Send one message to the grader; return its answer."""
    return input(_NONCE + " " + tag + " " + payload)  # noqa: F821 - set by the grader


def _grader_callable(index):
    def call(*args, **kwargs):
        answer = json.loads(_reply("C", json.dumps({"i": index, "args": encode(list(args)),  # noqa: F821
                                                        "kwargs": encode(kwargs)})))  # noqa: F821
        if "raised" in answer:
            kind = {"ValueError": ValueError, "TypeError": TypeError}.get(answer["raised"][0], RuntimeError)
            raise kind(answer["raised"][1])
        return decode(answer["value"])  # noqa: F821
    return call


def _kernel_code(source, name):
    """A function the test sent as source, defined in a namespace of its own."""
    import math as _math
    namespace = {"np": np, "math": _math}  # noqa: F821
    exec(source, namespace)
    return namespace[name]


def _run(request):
    fn = _USER_NS.get(request["name"])  # noqa: F821 - the notebook's namespace, set by the grader
    try:
        if fn is None:
            raise NameError(f"name {request['name']!r} is not defined")
        args = decode(request["args"], _grader_callable, 0, _kernel_code)  # noqa: F821
        kwargs = decode(request["kwargs"], _grader_callable, 0, _kernel_code)  # noqa: F821
        stable = bool(request["stable"])
        with _warnings.catch_warnings():
            _warnings.simplefilter("error" if stable else "ignore")
            with np.errstate(all="raise" if stable else "ignore", under="ignore"):  # noqa: F821
                value = fn(*args, **kwargs)
        out = {"value": encode(value), "args": encode(args, []), "kwargs": encode(kwargs, [])}  # noqa: F821
    except KeyboardInterrupt:
        raise  # the grader interrupted a call that ran out of time: end it, reply nothing
    except BaseException as exc:  # noqa: BLE001 - everything goes back as data
        out = {"raised": [type(exc).__name__, str(exc)[:1000]]}
    _reply("R", json.dumps(out))  # noqa: F821


_run(_REQUEST)  # noqa: F821 - set by the grader
