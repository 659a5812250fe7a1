"""``python -m bench.analysis <sub> ...``: see :mod:`bench.analysis.cli`."""
import sys

from bench.analysis.cli import main

sys.exit(main())
