"""`python3 -m yemma_common.healthcheck`: exit 0 iff GET /health answers 200 (Docker HEALTHCHECK)."""
import os
import sys
import urllib.request

port = os.environ.get("HTTP_PORT", "8000")
try:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=3) as resp:
        sys.exit(0 if resp.status == 200 else 1)
except Exception as exc:
    print(f"unhealthy: {exc}")
    sys.exit(1)
