"""netrouter: the cross-region router of China's national compute network (东数西算).

Kept import-light on purpose: site agents import the wire schema (:mod:`netrouter.v1`) and
:mod:`netrouter.contract.broker` without pulling in the router.
"""

__version__ = "0.1.0"
