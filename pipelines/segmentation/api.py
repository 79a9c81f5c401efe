"""A small HTTP API over the segmentation engine (stdlib only, JSON in and out).

python -m pipelines.segmentation serve --rules-file pipelines/segmentation/rules.yaml --port 8077

GET  /rules                 the current rules (reloaded when the file changes) and their version
POST /rules/validate        body: a proposed rules file (YAML); 200 {"valid": true, ...} or
                            422 {"valid": false, "problems": [...]} naming rule and field
POST /evaluate              body: {"facts": {...}, "scope": "event"|"session"} or
                            {"samples": [{...facts...}, ...]}; returns the segments of each
"""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from pipelines.segmentation.engine import RulesError, RulesWatcher, parse_rules

MAX_BODY = 1 << 20


def handle(watcher: RulesWatcher, method: str, path: str, body: bytes) -> tuple[int, dict[str, Any]]:
    """The API as a pure function of (method, path, body) → (status, JSON document)."""
    if method == "GET" and path == "/rules":
        seg = watcher.current()
        return 200, {**seg.rules.describe(), "file": str(watcher.rules_file), "last_error": watcher.last_error}
    if method == "POST" and path == "/rules/validate":
        try:
            rules = parse_rules(body.decode("utf-8", errors="replace"), "proposed rules")
        except RulesError as exc:
            return 422, {"valid": False, "problems": exc.problems}
        return 200, {"valid": True, "version": rules.version, "rules": [r.name for r in rules.rules]}
    if method == "POST" and path == "/evaluate":
        try:
            doc = json.loads(body or b"{}")
        except json.JSONDecodeError as exc:
            return 400, {"error": f"body is not JSON: {exc}"}
        if not isinstance(doc, dict):
            return 400, {"error": "body must be a JSON object with 'facts' or 'samples'"}
        seg = watcher.current()
        scope = doc.get("scope", "event")
        if scope not in ("event", "session"):
            return 400, {"error": f"scope {scope!r} is not one of event, session"}
        samples = doc.get("samples") if "samples" in doc else [doc.get("facts") or {}]
        if not isinstance(samples, list) or not all(isinstance(s, dict) for s in samples):
            return 400, {"error": "'samples' must be a list of fact objects"}
        results = []
        for facts in samples:
            facts = dict(facts)
            if "profile" not in facts and "visitor_id" in facts:
                facts["profile"] = seg.profiles.get(str(facts["visitor_id"]))
            results.append(seg.rules.evaluate(facts, scope))
        return 200, {"version": seg.rules.version, "scope": scope, "segments": results}
    return 404, {"error": f"no route {method} {path}; routes: GET /rules, POST /rules/validate, POST /evaluate"}


def make_server(watcher: RulesWatcher, host: str = "127.0.0.1", port: int = 8077) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def _reply(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY:
                status, doc = 413, {"error": f"body larger than {MAX_BODY} bytes"}
            else:
                status, doc = handle(watcher, method, self.path.split("?", 1)[0], self.rfile.read(length))
            data = json.dumps(doc).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            self._reply("GET")

        def do_POST(self) -> None:
            self._reply("POST")

        def log_message(self, format: str, *args: Any) -> None:
            return

    return ThreadingHTTPServer((host, port), Handler)


def serve(rules_file: Path, profiles_file: Path | None, host: str, port: int) -> None:
    server = make_server(RulesWatcher(rules_file, profiles_file), host, port)
    print(json.dumps({"event": "segmentation_api_listening", "url": f"http://{host}:{server.server_port}"}))
    try:
        server.serve_forever()
    finally:
        server.server_close()
