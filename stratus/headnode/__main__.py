"""``python -m stratus.headnode --cluster-dir DIR``: the head-node daemon of one cluster."""

import sys

from stratus.headnode.daemon import main

sys.exit(main())
