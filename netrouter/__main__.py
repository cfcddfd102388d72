"""``python -m netrouter`` = ``netrouter``."""

from netrouter.cli import main

main()
