"""nbgrader configuration of every student account on a shared class server (nbgrader's exchange).

Install it as ``/etc/jupyter/nbgrader_config.py`` (or ``~/.jupyter/nbgrader_config.py`` of each
student) after setting ``COURSE_ID`` and ``EXCHANGE_ROOT`` to the instructor's. It serves the
command line (``nbgrader list``, ``fetch_assignment``, ``submit``, ``fetch_feedback``) and
JupyterLab's *Assignment List* alike.

One thing is hardened. nbgrader 0.9.6 hands a submission in as a folder of mode 0777 (files 0644)
inside the exchange's ``inbound/``: other students cannot list ``inbound/``, but anyone who learns
a submission's name can read it. Here the submission's folder is 0770 and belongs to the
instructor's group (``inbound/`` is set-gid to it, and the folder inherits the group): the
student and the instructor's group reach the files, nobody else does. The instructor also sets the
sticky bit on ``inbound/`` (``chmod +t``), so no student can rename or remove another's submission.
"""
import os

from nbgrader.exchange.default.submit import ExchangeSubmit

COURSE_ID = "autoencoders-from-scratch"
EXCHANGE_ROOT = "/srv/nbgrader/exchange"


class PrivateSubmit(ExchangeSubmit):
    """nbgrader's submit, with the submission closed to other users (see the module's docstring)."""

    def copy_files(self):
        super().copy_files()
        os.chmod(os.path.join(self.inbound_path, self.assignment_filename), 0o770)


c = get_config()  # noqa: F821 - injected by traitlets
c.CourseDirectory.course_id = COURSE_ID
c.Exchange.root = EXCHANGE_ROOT
c.ExchangeFactory.submit = PrivateSubmit
