"""A real OpenAI-compatible chat-completions server on loopback for the judge tests: `transformers serve`
with a tiny random-init causal LM saved to a temporary folder (no download), bounded in time and stopped
by the test. A random model answers garbage, so tests assert the plumbing, not accuracy.

`FailingProxy` stands in for a server that answers 5xx: `transformers serve` cannot be made to return one
on demand, so a real local HTTP server answers the first requests with 503 and forwards the rest,
unchanged, to the real server.
"""
from __future__ import annotations

import http.server
import json
import os
import signal
import socket
import string
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path

STARTUP_S = 180   # the server imports torch and loads the model before it answers
CHAT_TEMPLATE = ("{% for m in messages %}{{ m['role'] }}: {{ m['content'] if m['content'] is string "
                 "else m['content'][0]['text'] }}\n{% endfor %}{% if add_generation_prompt %}assistant: {% endif %}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tiny_chat_model(folder: Path) -> Path:
    """A 1-layer Llama with a character-level tokenizer and a chat template, random weights, saved to folder."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    vocab = {"<pad>": 0, "<s>": 1, "</s>": 2, "<unk>": 3, **{c: i + 4 for i, c in enumerate(string.printable)}}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Split("", "isolated")
    tok.decoder = decoders.Fuse()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", pad_token="<pad>",
                                        unk_token="<unk>")
    tokenizer.chat_template = CHAT_TEMPLATE
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(vocab), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=8192,
                         bos_token_id=1, eos_token_id=2, pad_token_id=0)
    LlamaForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def chat_requests(log: Path) -> int:
    """Chat-completions requests the server has answered (uvicorn's access log lines)."""
    return log.read_text().count('"POST /v1/chat/completions') if log.is_file() else 0


@contextmanager
def serve(model: Path, log: Path):
    """`transformers serve` on 127.0.0.1 with `model`; yields its base URL; stopped on exit."""
    port = free_port()
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "HF_HUB_DISABLE_UPDATE_CHECK": "1"}
    cmd = [sys.executable, "-m", "transformers.cli.transformers", "serve", str(model), "--host", "127.0.0.1",
           "--port", str(port), "--device", "cpu"]
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.time() + STARTUP_S
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"transformers serve exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{url}/models", timeout=2):
                    break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                if time.time() > deadline:
                    raise RuntimeError(f"transformers serve did not answer in {STARTUP_S} s:\n{log.read_text()[-3000:]}")
                time.sleep(0.5)
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)  # its own session: the server and nothing else
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=20)


class FailingProxy:
    """A loopback HTTP server answering the first `failures` POSTs with 503, forwarding later ones to `target`."""

    def __init__(self, target: str, failures: int):
        self.target, self.failures, self.posts = target.rstrip("/"), failures, 0
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802  (http.server's naming)
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                proxy.posts += 1
                if proxy.posts <= proxy.failures:
                    self._reply(503, json.dumps({"error": "overloaded"}).encode())
                    return
                request = urllib.request.Request(proxy.target + self.path.removeprefix("/v1"), data=body,
                                                 headers={"Content-Type": "application/json"}, method="POST")
                with urllib.request.urlopen(request, timeout=60) as answer:
                    self._reply(answer.status, answer.read())

            def _reply(self, code: int, body: bytes):
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):  # quiet
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def __enter__(self):
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
