import sys

from drivers.sim.cli import main

sys.exit(main())
