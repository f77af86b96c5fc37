"""`python -m pcapexplain`: the same CLI as the console script."""

from pcapexplain.cli import run

run()
