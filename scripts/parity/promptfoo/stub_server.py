#!/usr/bin/env python3
"""Deterministic OpenAI-compatible stub server for the promptfoo parity check (stdlib only).

    POST /v1/chat/completions   reply to the last user message
    POST /v1/completions        reply to `prompt`
    GET  /v1/models             one model, for clients that probe

The reply is a pure function of the last user message. Lines of the form `key: value` in that
message steer it (the parity prompts put them there from test vars):

    kind:  which reply shape, one of KINDS below (missing: chosen by a hash of the message)
    topic: a word the reply mentions (default "widget")
    n:     a number the reply mentions (default 7)
    style: loud    -> text replies upper-cased (JSON replies unchanged)
           wrapped -> "Answer: " + reply
    question: the text an `echo` reply repeats verbatim (`\\n` becomes a newline)

Two kinds do not answer normally: `null` replies with `"content": null` (the client sees no
output) and `http400` replies with HTTP 400 and an OpenAI-style error body.

    stub_server.py [--host 127.0.0.1] [--port 0] [--port-file FILE] [--log FILE]

Port 0 binds a free port. The bound port is printed on stdout as `PORT <n>` (and written to
--port-file if given). --log appends every request body as one JSON line.
"""
import argparse
import hashlib
import json
import re
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

JSON_KINDS = {"json", "json-text", "json-fenced", "json-multi", "json-array", "json-loose", "json-broken",
              "json-nested"}


def reply_text(kind, topic, n, question):
    t = topic
    T = topic[:1].upper() + topic[1:]
    table = {
        "text": f"The quick brown {t} jumps over the lazy dog.",
        "mixed": f"Hello World! The Answer is {n}, said Dr. {T}.",
        "number": f"{n}",
        "prefix": f"RESULT: {t} = {n}",
        "json": f'{{"topic": "{t}", "count": {n}, "ok": true, "tags": ["a", "b"]}}',
        "json-nested": f'{{"outer": {{"topic": "{t}", "inner": {{"count": {n}}}}}, "list": [1, 2, 3]}}',
        "json-text": f'Here you go: {{"topic": "{t}", "count": {n}}} -- done.',
        "json-fenced": f'```json\n{{"topic": "{t}", "count": {n}}}\n```',
        "json-multi": f'first {{"a": 1}} and then {{"topic": "{t}", "count": {n}}}',
        "json-array": f'[{n}, "{t}", true]',
        "json-loose": f"{{topic: {t}, count: {n}}}",
        "json-broken": f'{{"topic": "{t}", "count": ',
        "empty": "",
        "blank": "   \n  ",
        "spaces": f"  padded  {t}\tand   more \n",
        "unicode": f"Café naïve ΟΔΟΣ straße 😀 {t}",
        "multiline": f"line one\nLine Two {t}\nline three",
        "list": f"- apples\n- Bananas\n- {t}",
        "csvish": "alpha, beta, gamma",
        "sentence": f"One two three four five six seven {t}.",
        "echo": question.replace("\\n", "\n"),
    }
    return table[kind]


KINDS = ["text", "mixed", "number", "prefix", "json", "json-nested", "json-text", "json-fenced", "json-multi",
         "json-array", "json-loose", "json-broken", "empty", "blank", "spaces", "unicode", "multiline", "list",
         "csvish", "sentence", "echo"]


def parse_directives(message):
    d = {}
    for line in message.splitlines():
        m = re.match(r"^\s*(kind|topic|n|style|question):[ \t]?(.*)$", line)
        if m and m.group(1) not in d:
            d[m.group(1)] = m.group(2)
    return d


def respond(message):
    """(status, content or None) for one user message."""
    d = parse_directives(message)
    kind = d.get("kind", "").strip()
    if kind == "http400":
        return 400, None
    if kind == "null":
        return 200, None
    if kind not in KINDS:
        h = int(hashlib.sha256(message.encode("utf-8")).hexdigest(), 16)
        kind = KINDS[h % (len(KINDS) - 1)]  # never `echo` by chance
    topic = d.get("topic", "").strip() or "widget"
    n = d.get("n", "").strip() or "7"
    text = reply_text(kind, topic, n, d.get("question", ""))
    style = d.get("style", "").strip()
    if style == "loud" and kind not in JSON_KINDS:
        text = text.upper()
    elif style == "wrapped":
        text = "Answer: " + text
    return 200, text


def count_tokens(s):
    return len(s.split())


def last_user_message(messages):
    for msg in reversed(messages or []):
        if msg.get("role") == "user":
            c = msg.get("content")
            if isinstance(c, list):
                return "".join(p.get("text", "") for p in c if isinstance(p, dict))
            return c if isinstance(c, str) else ""
    return ""


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    log_file = None
    log_lock = threading.Lock()

    def log_message(self, fmt, *args):  # quiet
        pass

    def send_json(self, status, obj):
        body = json.dumps(obj).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path.rstrip("/").endswith("/models"):
            self.send_json(200, {"object": "list", "data": [{"id": "stub-model", "object": "model", "owned_by": "stub"}]})
        else:
            self.send_json(404, {"error": {"message": "not found", "type": "invalid_request_error"}})

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        try:
            req = json.loads(raw or b"{}")
        except ValueError:
            self.send_json(400, {"error": {"message": "invalid JSON body", "type": "invalid_request_error"}})
            return
        if Handler.log_file:
            with Handler.log_lock, open(Handler.log_file, "a", encoding="utf-8") as f:
                f.write(json.dumps({"path": self.path, "body": req}, ensure_ascii=False) + "\n")
        path = self.path.split("?")[0].rstrip("/")
        model = req.get("model", "stub-model")
        if path.endswith("/chat/completions"):
            message = last_user_message(req.get("messages"))
            chat = True
        elif path.endswith("/completions"):
            message = req.get("prompt", "")
            if isinstance(message, list):
                message = message[0] if message else ""
            chat = False
        else:
            self.send_json(404, {"error": {"message": f"unknown path {self.path}", "type": "invalid_request_error"}})
            return
        status, content = respond(message)
        if status != 200:
            self.send_json(status, {"error": {"message": "stub: request rejected (kind: http400)",
                                              "type": "invalid_request_error", "param": None, "code": None}})
            return
        usage = {"prompt_tokens": count_tokens(message), "completion_tokens": count_tokens(content or ""),
                 "total_tokens": count_tokens(message) + count_tokens(content or "")}
        if chat:
            resp = {"id": "chatcmpl-stub", "object": "chat.completion", "created": 1700000000, "model": model,
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                                 "logprobs": None, "finish_reason": "stop"}],
                    "usage": usage}
        else:
            resp = {"id": "cmpl-stub", "object": "text_completion", "created": 1700000000, "model": model,
                    "choices": [{"index": 0, "text": content or "", "logprobs": None, "finish_reason": "stop"}],
                    "usage": usage}
        self.send_json(200, resp)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file")
    ap.add_argument("--log")
    args = ap.parse_args()
    Handler.log_file = args.log
    ThreadingHTTPServer.daemon_threads = True
    server = ThreadingHTTPServer((args.host, args.port), Handler)
    port = server.server_address[1]
    if args.port_file:
        with open(args.port_file + ".tmp", "w") as f:
            f.write(f"{port}\n")
        import os
        os.replace(args.port_file + ".tmp", args.port_file)
    print(f"PORT {port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
