# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""HTTPS transport: a threading HTTP/1.1 server whose connections are TLS-wrapped per thread."""

import logging
import socket
import ssl
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from .wire import Request

LOG = logging.getLogger("m365emu")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "m365emu"
    sys_version = ""
    timeout = 60

    def do_GET(self):  # pylint: disable=invalid-name
        self._serve()

    do_POST = do_PATCH = do_DELETE = do_PUT = do_HEAD = do_OPTIONS = do_GET

    def _read_body(self):
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            return None
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _serve(self):
        body = self._read_body()
        if body is None:
            self._send(411, {"Content-Type": "text/plain"}, b"Length Required")
            return
        request = Request(self.command, self.path, self.headers, body)
        try:
            response = self.server.dispatcher.handle(request)
        except Exception:  # pylint: disable=broad-except
            LOG.exception("unhandled error for %s %s", self.command, self.path)
            self._send(500, {"Content-Type": "text/plain"}, b"internal emulator error")
            return
        if response.drop:
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        self._send(response.status, response.headers, response.body)

    def _send(self, status, headers, body):
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def version_string(self):
        return self.server_version

    def log_message(self, format, *args):  # pylint: disable=redefined-builtin
        LOG.debug("%s - %s", self.address_string(), format % args)


class TlsServer(ThreadingHTTPServer):
    """Accepts on the main thread, does the TLS handshake on the connection's own thread."""

    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def __init__(self, address, context, dispatcher=None):
        self.context = context
        self.dispatcher = dispatcher
        super().__init__(address, _Handler)

    def finish_request(self, request, client_address):
        request.settimeout(30)
        request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            connection = self.context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError) as exc:
            LOG.debug("TLS handshake with %s failed: %s", client_address, exc)
            return
        try:
            self.RequestHandlerClass(connection, client_address, self)
        except (ConnectionError, ssl.SSLError, TimeoutError, OSError) as exc:
            LOG.debug("connection with %s ended: %s", client_address, exc)
        finally:
            connection.close()
