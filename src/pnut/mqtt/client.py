"""aiomqtt's client with its connection-loss races closed.

Why this exists: aiomqtt 2.x drives paho from the asyncio loop, and a
broker connection that goes away (a TCP reset, a broker killed) at an
unlucky moment showed through it:

1. paho asks for a write (or, from the connect thread, a read) watch on
   its socket, and aiomqtt schedules ``add_writer(fd)`` with
   ``call_soon_threadsafe`` even on the loop thread.  A reset read in the
   same loop turn closes the socket first: "Exception in callback
   BaseSelectorEventLoop.add_writer(...)" with an EBADF traceback - or,
   once the number is reused, a write watch on somebody else's socket.
   Here the watch is set at once on the loop thread, and a scheduled one
   only while paho still holds that very socket.
2. A loss before the CONNACK (reset while connecting, paho's keepalive)
   is ignored by aiomqtt: the connect waited ``timeout`` (10 s) for
   nothing.  Here it fails the connect at once.
3. A loss in the loop turn of the CONNACK is dropped: aiomqtt's
   ``__aenter__`` replaces a done ``_disconnected`` after connecting, so
   the session ran on a dead connection (a watcher that publishes nothing
   never noticed) and asyncio logged "Future exception was never
   retrieved".  Here the connect fails with that loss.
4. The loss itself is reported by the bridge's own warning line (with
   paho's reason, :attr:`Client.lost`); the exception aiomqtt keeps in
   its futures is marked retrieved, and paho's "failed to receive on
   socket" error line is taken off the log.
5. A subscribe waiting for its SUBACK, or a publish or subscribe made
   after the loss, waited ``timeout`` (10 s) on the dead connection (a
   loss as the bridge subscribed kept it from reconnecting, and from
   stopping until cancelled after the 5 s stop grace; its goodbye spent 2 s
   there).  Here they fail at once.  (A publish already waiting for its
   PUBACK still waits: the bridge's reader sees the loss and ends it.)

And ``stop``: a connect attempt gives way to a stop request at once
(a broker that accepts TCP but never answers kept ``pnut mqtt`` after
SIGTERM until the stop grace, 5 s, ran out).  What is overridden here are
aiomqtt 2.x's private callbacks and futures (pyproject pins aiomqtt below
3); tests/mqtt/test_mqtt_stop.py resets real connections through a relay,
each race in the loop turn where it bit, to hold them to it.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import threading
from collections.abc import Callable
from typing import Any, Final

import aiomqtt
import paho.mqtt.client as paho
from aiomqtt.exceptions import MqttCodeError

#: paho's error lines that only say the connection went (the bridge says it once).
PAHO_LOSS: Final = ("failed to receive on socket: ", "timeout on socket: ")


class Client(aiomqtt.Client):
    """An :class:`aiomqtt.Client` that survives resets quietly (see the module doc)."""

    def __init__(self, *args: Any, stop: asyncio.Event | None = None, **kwargs: Any) -> None:
        #: Why the connection went, in paho's words ("Connection reset by peer").
        self.lost: str | None = None
        self._stop = stop
        self._called_off = False
        self._thread = threading.get_ident()
        # A logger of our own, not aiomqtt's shared "mqtt" one: its filter
        # reads the loss of this connection only.
        plog = logging.Logger("pnut.mqtt.paho")
        plog.parent = logging.getLogger("pnut.mqtt")
        plog.addFilter(self._paho_line)
        super().__init__(*args, logger=plog, **kwargs)

    def _paho_line(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        for head in PAHO_LOSS:
            if text.startswith(head):
                self.lost = text[len(head):]
                return False
        return True

    # -- connecting -------------------------------------------------------------------
    async def __aenter__(self) -> Client:
        if self._stop is None:
            return await self._connect()
        connecting = asyncio.ensure_future(self._connect())
        stopping = asyncio.ensure_future(self._stop.wait())
        try:
            await asyncio.wait({connecting, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()
            if not connecting.done():
                connecting.cancel()
                await asyncio.wait({connecting})
                if connecting.cancelled():
                    self._call_off()
        if connecting.cancelled():
            raise aiomqtt.MqttError("stopped while connecting")
        connecting.result()  # a failed connect: its MqttError
        if self._stop.is_set():
            await self.__aexit__(None, None, None)  # connected as it was called off
            raise aiomqtt.MqttError("stopped while connecting")
        return self

    def _call_off(self) -> None:
        """A connect given up half-way: paho closes its socket now (or, still
        in the connect thread, once it has one: see _watch_read), or it would
        at garbage collection, through the closed loop (a traceback at exit)."""
        self._called_off = True
        self._client._sock_close()  # paho's own close: drops our watches, closes
        if self._misc_task is not None:
            self._misc_task.cancel()

    async def _connect(self) -> Client:
        lost = self._disconnected
        await super().__aenter__()
        if lost.done():  # (3) went in the turn of the CONNACK
            self._disconnected = lost
            await super().__aexit__(None, None, None)  # returns at once: releases the lock
            raise aiomqtt.MqttError(f"connection lost: {self.lost or lost.exception()}")
        return self

    # -- paho's socket callbacks (1) ----------------------------------------------------
    def _in_loop(self, func: Callable[..., None], *args: Any) -> None:
        if threading.get_ident() == self._thread:
            func(*args)
        elif not self._loop.is_closed():  # paho's connect runs in an executor thread,
            self._loop.call_soon_threadsafe(func, *args)  # which may outlive the loop

    def _on_socket_open(self, client: paho.Client, userdata: Any, sock: Any) -> None:
        self._in_loop(self._watch_read, client, sock)

    def _watch_read(self, client: paho.Client, sock: Any) -> None:
        if self._called_off:
            client._sock_close()
            return
        fd = _fd_if_open(client, sock)
        if fd is None:
            return  # closed meanwhile: its number may be another socket's now
        self._loop.add_reader(fd, self._readable, client)
        self._misc_task = self._loop.create_task(self._misc_loop())

    def _on_socket_close(self, client: paho.Client, userdata: Any, sock: Any) -> None:
        if not self._loop.is_closed():  # else paho's __del__: nothing to unwatch
            super()._on_socket_close(client, userdata, sock)

    def _on_socket_register_write(self, client: paho.Client, userdata: Any,
                                  sock: Any) -> None:
        self._in_loop(self._watch_write, client, sock)

    def _watch_write(self, client: paho.Client, sock: Any) -> None:
        fd = _fd_if_open(client, sock)
        if fd is not None:
            self._loop.add_writer(fd, self._writable, client)

    def _on_socket_unregister_write(self, client: paho.Client, userdata: Any,
                                    sock: Any) -> None:
        if sock.fileno() >= 0:
            self._loop.remove_writer(sock.fileno())

    def _readable(self, client: paho.Client) -> None:
        try:
            while True:
                client.loop_read()
                sock = client.socket()
                # TLS: loop_read may leave decoded bytes in the SSL object.
                if not (isinstance(sock, ssl.SSLSocket) and sock.pending() > 0):
                    break
        except Exception as exc:  # a broken connection (paho returns most as codes)
            self._broken(exc)

    def _writable(self, client: paho.Client) -> None:
        try:
            client.loop_write()
        except Exception as exc:
            self._broken(exc)

    # -- calls on a lost connection (5) ------------------------------------------------
    def _check_connection(self) -> None:
        if self._disconnected.done():
            raise aiomqtt.MqttError(f"connection lost ({self.lost or 'closed'})")

    async def publish(self, *args: Any, **kwargs: Any) -> None:
        self._check_connection()
        await super().publish(*args, **kwargs)

    async def subscribe(self, *args: Any, **kwargs: Any) -> Any:
        self._check_connection()
        return await super().subscribe(*args, **kwargs)

    # -- losses (2, 4, 5) --------------------------------------------------------------
    def _broken(self, exc: Exception) -> None:
        self.lost = self.lost or str(exc)
        # As an MqttError: what the bridge and the watcher catch (aiomqtt
        # stored the bare OSError or SSLError, and some of its versions raise
        # it again from __aexit__).
        error = aiomqtt.MqttError(f"connection lost ({self.lost})")
        error.__cause__ = exc
        if not self._connected.done():
            _fail(self._connected, error)
        elif not self._disconnected.done():
            _fail(self._disconnected, error)
            self._fail_subscribes()

    def _fail_subscribes(self) -> None:
        for waiting in self._pending_subscribes.values():
            if not waiting.done():
                _fail(waiting, aiomqtt.MqttError(f"connection lost ({self.lost or 'closed'})"))

    def _on_disconnect(self, client: paho.Client, userdata: Any, flags: Any,
                       reason_code: Any, properties: Any = None) -> None:
        self._in_loop(self._disconnect_seen, client, userdata, flags, reason_code, properties)

    def _disconnect_seen(self, client: paho.Client, userdata: Any, flags: Any,
                         reason_code: Any, properties: Any) -> None:
        if self.lost is None and getattr(reason_code, "is_failure", False):
            # Without a paho error line: an end of stream, or paho's keepalive.
            lost = str(reason_code)
            self.lost = "closed by the broker" if lost == "Unspecified error" else lost
        if not self._connected.done():  # (2) before the CONNACK
            _fail(self._connected, MqttCodeError(reason_code, "Connection lost"))
            return
        super()._on_disconnect(client, userdata, flags, reason_code, properties)
        if self._disconnected.done() and not self._disconnected.cancelled():
            self._disconnected.exception()  # (4) reported by whoever sees it, or not at all
            self._fail_subscribes()


def _fd_if_open(client: paho.Client, sock: Any) -> int | None:
    """``sock``'s number while paho still holds it, else None."""
    fd: int = sock.fileno()
    return fd if client.socket() is sock and fd >= 0 else None


def _fail(future: asyncio.Future[Any], exc: BaseException) -> None:
    """Fail ``future``, its exception marked retrieved: an awaiter still gets
    it, and nobody awaiting is no error (the session has ended)."""
    future.set_exception(exc)
    future.exception()
