import sys

from dynopypi.cli.main import main

if __name__ == "__main__":  # worker processes import this module again
    sys.exit(main())
