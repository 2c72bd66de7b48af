"""What runs in the student's kernel for one call (its source is sent there, after the codec's).

It runs in a namespace of its own (never the notebook's), looks the student's function up in the
notebook's namespace, calls it on the decoded arguments, and sends back, through the kernel's
``input()`` channel (to the grader's client only), the result, the arguments as they are after
the call, or the exception raised. A function the grader passed as an argument becomes a stub
that asks the grader to call it. Nothing here decides a score: the grader does, on the data.

Never imported here: the grader reads this file and, on its first call into a kernel, installs it
after the codec as a module of that kernel (``_aegrade_call``); each call then runs
``run(notebook namespace, nonce, request)``. A student's code can change or remove that module:
then no right value comes back, and the check fails.
"""
import warnings as _warnings


def _reply(nonce, tag, payload):
    """Send one message to the grader; return its answer."""
    return input(nonce + " " + tag + " " + payload)


def _grader_callable(nonce):
    def make(index):
        def call(*args, **kwargs):
            answer = json.loads(_reply(nonce, "C", json.dumps({"i": index, "args": encode(list(args)),  # noqa: F821
                                                                   "kwargs": encode(kwargs)})))  # noqa: F821
            if "raised" in answer:
                kind = {"ValueError": ValueError, "TypeError": TypeError}.get(answer["raised"][0], RuntimeError)
                raise kind(answer["raised"][1])
            return decode(answer["value"])  # noqa: F821
        return call
    return make


def _kernel_code(source, name):
    """A function the test sent as source, defined in a namespace of its own."""
    import math as _math
    namespace = {"np": np, "math": _math}  # noqa: F821
    exec(source, namespace)
    return namespace[name]


def run(user_ns, nonce):
    """Ask the grader for its request (through the input channel: large arguments in the code
    of an execute request would cost IPython's input transformation dearly), call
    ``request["name"]`` of the notebook's namespace ``user_ns``, reply to the grader."""
    request = json.loads(_reply(nonce, "Q", ""))  # noqa: F821
    fn = user_ns.get(request["name"])
    try:
        if fn is None:
            raise NameError(f"name {request['name']!r} is not defined")
        make = _grader_callable(nonce)
        args = decode(request["args"], make, 0, _kernel_code)  # noqa: F821
        kwargs = decode(request["kwargs"], make, 0, _kernel_code)  # noqa: F821
        args_before, kwargs_before = encode(args, []), encode(kwargs, [])  # noqa: F821
        stable = bool(request["stable"])
        with _warnings.catch_warnings():
            _warnings.simplefilter("error" if stable else "ignore")
            with np.errstate(all="raise" if stable else "ignore", under="ignore"):  # noqa: F821
                value = fn(*args, **kwargs)
        args_after, kwargs_after = encode(args, []), encode(kwargs, [])  # noqa: F821
        # the arguments travel back only when the call changed them (None: as they were sent)
        out = {"value": encode(value),  # noqa: F821
               "args": None if args_after == args_before else args_after,
               "kwargs": None if kwargs_after == kwargs_before else kwargs_after}
    except KeyboardInterrupt:
        raise  # the grader interrupted a call that ran out of time: end it, reply nothing
    except BaseException as exc:  # noqa: BLE001 - everything goes back as data
        out = {"raised": [type(exc).__name__, str(exc)[:1000]]}
    _reply(nonce, "R", json.dumps(out))  # noqa: F821
