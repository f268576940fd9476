"""The `harness` console script and `python -m harness.cli`: a shim, the commands live in harness/app/."""
import sys

from harness.app.cli import main

if __name__ == "__main__":
    sys.exit(main())
