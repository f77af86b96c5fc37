"""`python -m pcapexplain`: the same CLI as the console script."""

import sys

from pcapexplain.cli import main

sys.exit(main())
