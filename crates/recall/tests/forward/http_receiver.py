"""An HTTP receiver for the forwarder test (crates/recall/tests/server_forward.rs).

Usage: http_receiver.py OUT FAIL_FIRST DELAY_MS CERT KEY
Listens over TLS (Python's ssl module, CERT/KEY in PEM) on 127.0.0.1 (a free port,
printed as "port N"), answers the first FAIL_FIRST
POSTs 503, then appends each body to OUT (synced) before answering 200, after DELAY_MS.
Only the standard library: http.server speaking HTTP/1.1 with keep-alive.
"""
import os
import ssl
import sys
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

OUT, FAIL_FIRST, DELAY_MS = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
seen = 0


class Receiver(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        global seen
        body = self.rfile.read(int(self.headers["Content-Length"]))
        seen += 1
        if seen <= FAIL_FIRST:
            self.answer(503)
            return
        time.sleep(DELAY_MS / 1000)
        with open(OUT, "ab") as f:
            f.write(body)
            f.flush()
            os.fsync(f.fileno())
        self.answer(200)

    def answer(self, status):
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


server = HTTPServer(("127.0.0.1", 0), Receiver)
tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
tls.load_cert_chain(sys.argv[4], sys.argv[5])
server.socket = tls.wrap_socket(server.socket, server_side=True)
print(f"port {server.server_address[1]}", flush=True)
server.serve_forever()
