"""Proxies between a backend and its test server.

* :class:`CountingProxy`: a forwarding HTTP proxy that counts what passes (for proxy settings).
* :class:`FaultProxy`: a TCP proxy that injects network faults: it cuts a connection after a
  number of bytes in either direction, stalls it, refuses new connections for a while, or drops
  every connection at once (a server restart). It counts connections and bytes, so tests can
  tell how many connections a storage keeps open. With ``ftp=True`` it also carries the passive
  data connections an FTP server announces (``227``/``229`` replies are rewritten to point at
  one-shot listeners of the proxy), so faults reach the file transfers too.
"""

from __future__ import annotations

import contextlib
import http.client
import re
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

__all__ = ["CountingProxy", "FaultProxy"]

#: Bytes moved per read in each direction of a proxied connection.
CHUNK = 64 * 1024
#: Seconds a data listener of the FTP mode waits for the client to connect.
DATA_ACCEPT_TIMEOUT = 30.0
#: Seconds between two looks at whether a held connection may go on.
HOLD_POLL = 0.02
UP, DOWN = "up", "down"
_PASV = re.compile(rb"^227 .*?\((\d+),(\d+),(\d+),(\d+),(\d+),(\d+)\)")
_EPSV = re.compile(rb"^229 .*?\(\|\|\|(\d+)\|\)")


class CountingProxy:
    """Forward plain-HTTP proxy requests to their target and remember the methods seen."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def _forward(self) -> None:
                target = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                proxy.seen.append(f"{self.command} {target.path}")
                upstream = http.client.HTTPConnection(target.netloc, timeout=30)
                headers = {k: v for k, v in self.headers.items() if k.lower() != "proxy-connection"}
                path = target.path + (f"?{target.query}" if target.query else "")
                upstream.request(self.command, path, body=body, headers=headers)
                response = upstream.getresponse()
                data = response.read()
                self.send_response(response.status)
                # A HEAD answer has no body but keeps the object's Content-Length.
                skipped = {"transfer-encoding", "connection"}
                if self.command != "HEAD":
                    skipped.add("content-length")
                for key, value in response.getheaders():
                    if key.lower() not in skipped:
                        self.send_header(key, value)
                if self.command != "HEAD":
                    self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)
                upstream.close()

            do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _forward

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> CountingProxy:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass
class Fault:
    """A fault armed on the proxy: after ``after`` more bytes in ``direction``, ``kind`` happens
    to the connection carrying them.

    Bytes are counted over every connection from the moment the fault is armed, ``times``
    firings in all, each ``after`` bytes after the previous one; or, when ``per_connection``,
    on each connection separately, every connection that carries more than ``after`` bytes
    being hit (a path that breaks every long transfer), until the faults are released.
    """

    kind: str  # "cut" or "stall"
    direction: str
    after: int
    times: int = 1
    per_connection: bool = False
    #: Called (with the fault) just before the fault hits its connection, e.g. to change the
    #: stored object at that very moment.
    on_fire: Callable[[Fault], object] | None = None
    fired: int = 0
    left: int = field(init=False)
    _per_link: dict[object, int] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        self.left = self.after

    def remaining(self, link: object) -> int:
        """Return the bytes that may still pass before this fault hits ``link``."""
        if self.per_connection:
            return self._per_link.setdefault(link, self.after)
        return self.left

    def count(self, link: object, size: int) -> None:
        """Count ``size`` bytes carried by ``link``."""
        if self.per_connection:
            self._per_link[link] = self.remaining(link) - size
        else:
            self.left -= size

    def fire(self, link: object) -> bool:
        """Record a firing on ``link``; return whether the fault is used up."""
        self.fired += 1
        if self.per_connection:
            self._per_link[link] = 1 << 62  # a connection is hit once
            return False
        self.left = self.after
        return self.fired >= self.times


def _reset(sock: socket.socket) -> None:
    """Close ``sock`` with a TCP reset (SO_LINGER 0), as a broken network or a crash does."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RD)  # wakes a thread blocked reading it (close() would not)
    with contextlib.suppress(OSError):
        sock.close()


class _Link:
    """One proxied connection: the client's socket and the server's."""

    def __init__(self, client: socket.socket, server: socket.socket, control: bool) -> None:
        self.client = client
        self.server = server
        #: An FTP control connection (whose passive-mode replies are rewritten).
        self.control = control
        self.dead = False

    def kill(self) -> None:
        self.dead = True
        _reset(self.client)
        _reset(self.server)


class FaultProxy:
    """A TCP proxy on a free loopback port in front of ``target_port`` (see the module doc)."""

    def __init__(self, target_port: int, target_host: str = "127.0.0.1", *, ftp: bool = False):
        self.target = (target_host, target_port)
        self.ftp = ftp
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._links: set[_Link] = set()
        #: Set while the server looks hung (a stall fired): nothing is forwarded.
        self._hung = threading.Event()
        self._closed = False
        #: Connections accepted (FTP data connections included), open now, and most at once.
        self.accepted = 0
        self.active = 0
        self.peak = 0
        #: Bytes forwarded towards the server (``up``) and towards the client (``down``).
        self.bytes = {UP: 0, DOWN: 0}
        #: What fired, in order ("cut up", "stall down", ...).
        self.events: list[str] = []
        self._listener: socket.socket | None = self._listen(0)
        self.port: int = self._listener.getsockname()[1]
        self._reopened = threading.Event()
        self._thread = threading.Thread(target=self._accept_loop, daemon=True, name="fault-proxy")
        self._thread.start()

    @staticmethod
    def _listen(port: int) -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
        sock.listen(128)
        return sock

    def __enter__(self) -> FaultProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def cut(
        self,
        after: int,
        direction: str = UP,
        times: int = 1,
        *,
        per_connection: bool = False,
        on_fire: Callable[[Fault], object] | None = None,
    ) -> Fault:
        """Reset the connection that carries the byte ``after`` bytes from now in ``direction``
        (see :class:`Fault` for ``times`` and ``per_connection``)."""
        return self._arm(Fault("cut", direction, after, times, per_connection, on_fire))

    def stall(self, after: int = 0, direction: str = DOWN) -> Fault:
        """Once ``after`` more bytes passed in ``direction``, stop forwarding anything on any
        connection, new ones included, until :meth:`release`: the server looks hung."""
        return self._arm(Fault("stall", direction, after))

    def _arm(self, fault: Fault) -> Fault:
        if fault.direction not in (UP, DOWN):
            raise ValueError(f"direction must be {UP!r} or {DOWN!r}, not {fault.direction!r}")
        with self._lock:
            self._faults.append(fault)
        return fault

    def release(self) -> None:
        """Forget every armed fault and let stalled connections go on."""
        with self._lock:
            self._faults.clear()
        self._hung.clear()

    def reset(self) -> None:
        """Release every fault, drop every connection and zero the counters (between tests)."""
        self.release()
        self.drop_all()
        with self._lock:
            self.accepted = self.peak = 0
            self.bytes = {UP: 0, DOWN: 0}
            self.events = []

    @property
    def listening(self) -> bool:
        """Return whether the proxy accepts connections now (not refusing them)."""
        return self._listener is not None

    def wait_listening(self, timeout: float = 10.0) -> None:
        """Wait until the proxy accepts connections again after :meth:`refuse`."""
        deadline = time.monotonic() + timeout
        while not self.listening:
            if time.monotonic() > deadline:
                raise TimeoutError(f"the proxy still refuses connections after {timeout}s")
            time.sleep(HOLD_POLL)

    def refuse(self, seconds: float) -> None:
        """Refuse new connections (connection refused) for ``seconds``; open ones go on."""
        with self._lock:
            listener, self._listener = self._listener, None
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)  # wakes the accept() blocked on it
            listener.close()
        timer = threading.Timer(seconds, self._reopen)
        timer.daemon = True
        timer.start()

    def drop_all(self) -> None:
        """Reset every open connection (as a server that crashed or restarted would)."""
        with self._lock:
            links = list(self._links)
            self.events.append("drop all")
        for link in links:
            link.kill()

    def restart(self, down_for: float) -> None:
        """Act out a server restart: drop every connection and refuse new ones for a while."""
        self.refuse(down_for)
        self.drop_all()

    def _reopen(self) -> None:
        with self._lock:
            if self._closed or self._listener is not None:
                return
            self._listener = self._listen(self.port)
        self._reopened.set()

    def close(self) -> None:
        """Stop listening and reset every connection."""
        with self._lock:
            self._closed = True
            listener, self._listener = self._listener, None
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        self._reopened.set()
        self.drop_all()
        self.release()

    def _accept_loop(self) -> None:
        while not self._closed:
            listener = self._listener
            if listener is None:
                self._reopened.wait(0.05)
                self._reopened.clear()
                continue
            try:
                client, _ = listener.accept()
            except OSError:
                continue
            self._start_link(client, self.target, control=self.ftp)

    def _start_link(self, client: socket.socket, target: tuple[str, int], control: bool) -> None:
        try:
            server = socket.create_connection(target, timeout=10)
            server.settimeout(None)
        except OSError:
            _reset(client)
            return
        for sock in (client, server):
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        link = _Link(client, server, control)
        with self._lock:
            self._links.add(link)
            self.accepted += 1
            self.active += 1
            self.peak = max(self.peak, self.active)
        done = threading.Barrier(2, action=lambda: self._finish(link))
        for source, sink, direction in ((client, server, UP), (server, client, DOWN)):
            threading.Thread(
                target=self._pump,
                args=(link, source, sink, direction, done),
                daemon=True,
                name=f"fault-proxy-{direction}",
            ).start()

    def _finish(self, link: _Link) -> None:
        with self._lock:
            self._links.discard(link)
            self.active -= 1
        for sock in (link.client, link.server):
            with contextlib.suppress(OSError):
                sock.close()

    def _pump(
        self,
        link: _Link,
        source: socket.socket,
        sink: socket.socket,
        direction: str,
        done: threading.Barrier,
    ) -> None:
        pending = b""  # FTP mode: the start of a reply line not complete yet
        try:
            while not link.dead:
                try:
                    data = source.recv(CHUNK)
                except OSError:
                    link.kill()  # reset by one side: the other side sees a reset too
                    break
                if not data:
                    # An orderly end of one direction: pass it on, the other may go on.
                    with contextlib.suppress(OSError):
                        sink.shutdown(socket.SHUT_WR)
                    break
                if link.control and direction == DOWN:
                    data, pending = self._rewrite_passive(pending + data)
                if not self._forward(link, sink, direction, data):
                    break
        finally:
            with contextlib.suppress(threading.BrokenBarrierError):
                done.wait()

    def _forward(self, link: _Link, sink: socket.socket, direction: str, data: bytes) -> bool:
        """Send ``data`` on, applying the armed faults; return False once the link is gone."""
        while data:
            if self._hung.is_set():
                self._hold(link)
                if link.dead:
                    return False
            fault, allowed = self._next_fault(link, direction, len(data))
            head, data = data[:allowed], data[allowed:]
            if head:
                try:
                    sink.sendall(head)
                except OSError:
                    return False
                with self._lock:
                    self.bytes[direction] += len(head)
            if fault is None:
                continue
            if fault.on_fire is not None:
                fault.on_fire(fault)
            if fault.kind == "cut":
                link.kill()
                return False
            self._hold(link)
            if link.dead:
                return False
        return True

    def _next_fault(self, link: _Link, direction: str, size: int) -> tuple[Fault | None, int]:
        """Return the fault that hits ``link`` within its next ``size`` bytes (and how many
        bytes go before it), counting those bytes against every armed fault of ``direction``."""
        with self._lock:
            armed = [f for f in self._faults if f.direction == direction]
            if not armed:
                return None, size
            first = min(armed, key=lambda f: f.remaining(link))
            allowed = min(max(first.remaining(link), 0), size)
            for fault in armed:
                fault.count(link, allowed)
            if allowed == size:
                return None, size
            if first.fire(link):
                self._faults.remove(first)
            self.events.append(f"{first.kind} {direction}")
            return first, allowed

    def _hold(self, link: _Link) -> None:
        """Keep ``link`` still while the server looks hung (until released, or the link dies)."""
        self._hung.set()
        while self._hung.is_set() and not link.dead and not self._closed:
            time.sleep(HOLD_POLL)

    def _rewrite_passive(self, data: bytes) -> tuple[bytes, bytes]:
        """Point passive-mode replies at a listener of the proxy; return (complete lines, rest)."""
        cut = data.rfind(b"\n") + 1
        lines, rest = data[:cut], data[cut:]
        out = []
        for line in lines.splitlines(keepends=True):
            pasv, epsv = _PASV.match(line), _EPSV.match(line)
            if pasv:
                port = self._data_listener(int(pasv.group(5)) * 256 + int(pasv.group(6)))
                line = b"227 Entering Passive Mode (127,0,0,1,%d,%d).\r\n" % divmod(port, 256)
            elif epsv:
                port = self._data_listener(int(epsv.group(1)))
                line = b"229 Entering Extended Passive Mode (|||%d|)\r\n" % port
            out.append(line)
        return b"".join(out), rest

    def _data_listener(self, server_port: int) -> int:
        """Listen once for the data connection the client opens next; return the port."""
        listener = self._listen(0)
        listener.settimeout(DATA_ACCEPT_TIMEOUT)

        def accept_one() -> None:
            with listener:
                try:
                    client, _ = listener.accept()
                except OSError:
                    return
            client.settimeout(None)
            self._start_link(client, (self.target[0], server_port), control=False)

        threading.Thread(target=accept_one, daemon=True, name="fault-proxy-data").start()
        return int(listener.getsockname()[1])
