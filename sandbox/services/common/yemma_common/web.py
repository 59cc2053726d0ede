"""A tiny JSON HTTP server on the standard library (threaded, one handler per route)."""
import datetime
import decimal
import json
import logging
import re
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

log = logging.getLogger("http")


def _default(obj):
    if isinstance(obj, (datetime.datetime, datetime.date)):
        return obj.isoformat()
    if isinstance(obj, (uuid.UUID, decimal.Decimal)):
        return str(obj)
    if isinstance(obj, (bytes, memoryview)):
        return len(bytes(obj))
    return str(obj)


def to_json(obj):
    return json.dumps(obj, default=_default, ensure_ascii=False).encode("utf-8")


def serve(port, routes):
    """routes: {("GET", "/health"): fn(request) -> (status, dict)}; a route "/items/<id>"
    matches /items/42 and gives the handler request.item_id = 42. Blocks forever."""

    class Handler(BaseHTTPRequestHandler):
        server_version = "yemma"

        def _dispatch(self, method):
            path = self.path.split("?", 1)[0].rstrip("/") or "/"
            fn = routes.get((method, path))
            item = re.fullmatch(r"/items/(\d+)", path)
            if fn is None and item:
                fn, self.item_id = routes.get((method, "/items/<id>")), int(item.group(1))
            if fn is None:
                status, body = 404, {"error": f"no route {method} {path}"}
            else:
                try:
                    status, body = fn(self)
                except Exception as exc:  # a bug must not kill the server thread
                    log.exception("unhandled error on %s %s", method, path)
                    status, body = 500, {"error": str(exc)}
            data = to_json(body)
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            self._dispatch("GET")

        def do_POST(self):
            self._dispatch("POST")

        def do_PATCH(self):
            self._dispatch("PATCH")

        def do_DELETE(self):
            self._dispatch("DELETE")

        def json_body(self):
            """The request's JSON object ({} when there is no body)."""
            length = int(self.headers.get("Content-Length") or 0)
            if not length:
                return {}
            body = json.loads(self.rfile.read(length) or b"{}")
            return body if isinstance(body, dict) else {}

        def log_message(self, fmt, *args):
            # Health probes every few seconds would drown the log: DEBUG for them.
            level = logging.DEBUG if self.path.startswith("/health") else logging.INFO
            log.log(level, "%s %s", self.address_string(), fmt % args)

    server = ThreadingHTTPServer(("0.0.0.0", port), Handler)
    server.daemon_threads = True
    log.info("listening on 0.0.0.0:%s", port)
    server.serve_forever()
