"""``python -m pnut`` is the ``pnut`` command."""

import sys

from pnut.cli.main import main

sys.exit(main())
