"""``python -m stratus.controller``: the head-node daemon."""

import sys

from stratus.controller.daemon import main

sys.exit(main())
