import sys

from dpostudio.cli import main

if __name__ == "__main__":  # not when multiprocessing's spawn re-imports this module as __mp_main__
    sys.exit(main())
