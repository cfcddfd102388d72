"""``python -m netrouter`` = ``netrouter``."""

from netrouter.cli.app import main

main()
