"""``python -m site_agents`` = ``netrouter-agent``."""

from site_agents.cli import main

main()
