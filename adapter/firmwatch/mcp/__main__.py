import sys

from firmwatch.mcp.server import main

sys.exit(main())
