import sys

from nbprod.ui.cli import main

sys.exit(main())
