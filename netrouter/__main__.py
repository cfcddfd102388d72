"""``python -m netrouter`` = ``netrouter``."""

from netrouter.cli.main import main

main()
