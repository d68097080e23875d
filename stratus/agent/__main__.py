"""``python -m stratus.agent``: the node agent process (started by a provider)."""

import sys

from stratus.agent.agent import main

sys.exit(main())
