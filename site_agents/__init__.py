"""netrouter's site agent: reads a data center's state and publishes it over MQTT.

Shares only the wire schema (:mod:`netrouter.v1`, :mod:`netrouter.contract.broker`) and the config-file
loader (:mod:`netrouter.contract.configfile`) with the router.
"""
