"""``pnut mqtt``: UPS state on an MQTT broker, with Home Assistant discovery.

:mod:`pnut.mqtt.feed` decides what to publish (sans-IO),
:mod:`pnut.mqtt.discovery` holds the Home Assistant entity table, and
:mod:`pnut.mqtt.bridge` moves it between upsd and the broker (aiomqtt,
from the ``mqtt`` extra), through the client of :mod:`pnut.mqtt.broker`
that :mod:`pnut.mqtt.watch` uses too.  See docs/mqtt.md.
"""
