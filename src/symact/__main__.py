"""``python -m symact`` is the ``symact`` command."""

import sys

from symact.cli import main

sys.exit(main())
