"""``python -m aegrade``: the same as the ``aegrade`` command."""
import sys

from .cli import main

sys.exit(main())
