"""Stand-in for an infrastructure service the migration does not touch (minio,
elasticsearch, kibana, nginx, frontend): it only has to exist, run, use its memory
budget's container and answer its healthcheck. Standard library only."""
import json
import os
import signal
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

NAME = os.environ.get("SERVICE_NAME", "standin")
PORT = int(os.environ.get("PORT", "8080"))


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path.split("?", 1)[0] in ("/", "/health"):
            body = json.dumps({"service": NAME, "status": "ok", "standin": True}).encode()
            self.send_response(200)
        else:
            body = json.dumps({"service": NAME, "error": "not found"}).encode()
            self.send_response(404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_HEAD = do_GET

    def log_message(self, fmt, *args):  # healthchecks every few seconds: keep logs quiet
        pass


def main():
    server = ThreadingHTTPServer(("0.0.0.0", PORT), Handler)
    # PID 1 gets no default SIGTERM handler: exit promptly on `docker stop`.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(f"{NAME} stand-in listening on :{PORT}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
