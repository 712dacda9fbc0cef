"""`python -m genlab ...`: the command line (genlab/cli.py)."""
import sys

from genlab.cli import main

sys.exit(main())
