import sys

from headwater.transfer.incluster import main

sys.exit(main())
