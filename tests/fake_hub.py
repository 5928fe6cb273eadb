"""A tiny stand-in for the Hugging Face Hub on 127.0.0.1, for driving the real ``huggingface_hub`` client in tests.

It answers the REST calls ``HfApi.whoami / create_repo / upload_folder`` make (huggingface_hub 2.x):

  GET  /api/whoami-v2                                     who owns the token
  POST /api/repos/create                                  create a repo (403 in a foreign namespace, 409 if it exists)
  GET  /api/{models|datasets}/{ns}/{name}[/revision/{r}]  repo info (create_repo(exist_ok) calls it after a 403)
  POST /api/validate-yaml                                 README front matter check (create_commit path)
  POST /api/{type}s/{ns}/{name}/preupload/{rev}           upload mode per file: "lfs" for weights, else "regular"
  POST /[datasets/]{ns}/{name}.git/info/lfs/objects/batch LFS batch: upload + verify hrefs pointing back here
  PUT  /__lfs/{oid}                                       LFS object upload (sha256 checked)
  POST /__lfs/verify                                      LFS verify
  POST /api/{type}s/{ns}/{name}/commit/{rev}              NDJSON commit: header, file (base64), lfsFile lines

Every request is recorded (method, path, headers, body) and committed files are kept in memory per repo.
``fail[route] = status`` makes a route answer with that status (``route`` is one of whoami, create, repo_info,
validate, preupload, lfs_batch, lfs_upload, commit); ``delay[route] = seconds`` makes it slow.
Xet storage is not implemented: with ``lfs=True`` tests disable xet in the client (``HF_HUB_DISABLE_XET``),
with ``lfs=False`` every file is "regular" so the client's default xet pipeline never needs the CAS server.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit

ERROR_TEXT = {
    401: "Invalid credentials in Authorization header",
    403: "You don't have the rights to create a model under this namespace",
    404: "Repository not found",
    409: "You already created this model repo",
    429: "Too many requests",
    500: "Internal Error - We're working hard to fix this as soon as possible!",
    502: "Bad gateway",
    503: "Service unavailable",
}


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body or b"null")


@dataclass
class Repo:
    repo_id: str
    repo_type: str
    private: bool
    owner: str
    files: dict[str, bytes] = field(default_factory=dict)
    commits: list[dict[str, Any]] = field(default_factory=list)


class FakeHub:
    def __init__(self, tokens: dict[str, str] | None = None, *, lfs: bool = False, read_only_tokens=()):
        self.tokens = dict(tokens or {"hf_test_token_0123456789abcdef": "alice"})
        self.read_only_tokens = set(read_only_tokens)
        self.lfs = lfs
        self.repos: dict[tuple[str, str], Repo] = {}
        self.lfs_objects: dict[str, bytes] = {}
        self.requests: list[Recorded] = []
        self.fail: dict[str, int] = {}
        self.delay: dict[str, float] = {}
        self._lock = threading.Lock()
        hub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, fmt, *args):  # keep test output clean
                pass

            def _read(self) -> bytes:
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    return self.rfile.read(length)
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    chunks = []
                    while True:
                        size = int(self.rfile.readline().strip() or b"0", 16)
                        if size == 0:
                            self.rfile.readline()
                            break
                        chunks.append(self.rfile.read(size))
                        self.rfile.readline()
                    return b"".join(chunks)
                return b""

            def _handle(self):
                body = self._read()
                path = urlsplit(self.path).path
                with hub._lock:
                    hub.requests.append(Recorded(self.command, path, {k.lower(): v for k, v in self.headers.items()}, body))
                try:
                    status, payload, headers = hub.route(self.command, path, self.headers, body)
                except Exception as exc:  # a bug in the fake: answer 500 with the reason
                    status, payload, headers = 500, {"error": f"fake hub error: {exc!r}"}, {}
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for key, value in headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_HEAD = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, name="fake-hub", daemon=True)

    # ---- lifecycle ------------------------------------------------------------------------------
    def start(self) -> "FakeHub":
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> "FakeHub":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # ---- helpers for tests ----------------------------------------------------------------------
    def add_repo(self, repo_id: str, owner: str, repo_type: str = "model", private: bool = False) -> Repo:
        repo = Repo(repo_id, repo_type, private, owner)
        self.repos[(repo_type, repo_id)] = repo
        return repo

    def repo(self, repo_id: str, repo_type: str = "model") -> Repo | None:
        return self.repos.get((repo_type, repo_id))

    def routes_called(self) -> list[str]:
        return [f"{r.method} {r.path}" for r in self.requests]

    # ---- routing --------------------------------------------------------------------------------
    def _user(self, headers) -> str | None:
        auth = headers.get("Authorization") or ""
        token = auth[7:] if auth.startswith("Bearer ") else None
        return self.tokens.get(token) if token else None

    def _token(self, headers) -> str | None:
        auth = headers.get("Authorization") or ""
        return auth[7:] if auth.startswith("Bearer ") else None

    @staticmethod
    def _error(status: int, code: str | None = None, message: str | None = None):
        message = message or ERROR_TEXT.get(status, "error")
        headers = {"X-Error-Message": message}
        if code:
            headers["X-Error-Code"] = code
        return status, {"error": message}, headers

    def route(self, method: str, path: str, headers, body: bytes):
        name, match = self._match(method, path)
        if name is None:
            return self._error(404, message=f"no route {method} {path} in the fake hub")
        if self.delay.get(name):
            time.sleep(self.delay[name])
        if name in self.fail:
            status = self.fail[name]
            return self._error(status, "RepoNotFound" if status == 404 else None)
        if name not in ("lfs_upload", "lfs_verify"):
            user = self._user(headers)
            if user is None:
                return self._error(401)
        else:
            user = None
        return getattr(self, f"_r_{name}")(match, headers, body, user)

    _ROUTES = (
        ("GET", "whoami", r"^/api/whoami-v2$"),
        ("POST", "create", r"^/api/repos/create$"),
        ("POST", "validate", r"^/api/validate-yaml$"),
        ("POST", "preupload", r"^/api/(models|datasets|spaces)/([^/]+/[^/]+)/preupload/(.+)$"),
        ("POST", "commit", r"^/api/(models|datasets|spaces)/([^/]+/[^/]+)/commit/(.+)$"),
        ("GET", "repo_info", r"^/api/(models|datasets|spaces)/([^/]+/[^/]+?)(?:/revision/.+)?$"),
        ("POST", "lfs_batch", r"^/(?:(datasets|spaces)/)?([^/]+/[^/]+)\.git/info/lfs/objects/batch$"),
        ("PUT", "lfs_upload", r"^/__lfs/([0-9a-f]{64})$"),
        ("POST", "lfs_verify", r"^/__lfs/verify$"),
    )

    def _match(self, method: str, path: str):
        for verb, name, pattern in self._ROUTES:
            m = re.match(pattern, unquote(path))
            if m and verb == method:
                return name, m
        return None, None

    # ---- handlers -------------------------------------------------------------------------------
    def _r_whoami(self, m, headers, body, user):
        role = "read" if self._token(headers) in self.read_only_tokens else "write"
        return 200, {"type": "user", "name": user, "fullname": user.title(), "orgs": [],
                     "auth": {"type": "access_token", "accessToken": {"displayName": "test", "role": role}}}, {}

    def _r_create(self, m, headers, body, user):
        data = json.loads(body or b"{}")
        namespace = data.get("organization") or user
        repo_type = data.get("type") or "model"
        repo_id = f"{namespace}/{data['name']}"
        if namespace != user or self._token(headers) in self.read_only_tokens:
            return self._error(403, message=f"You don't have the rights to create a {repo_type} under the "
                                            f"namespace \"{namespace}\"")
        prefix = "" if repo_type == "model" else f"{repo_type}s/"
        url = f"{self.url}/{prefix}{repo_id}"
        if (repo_type, repo_id) in self.repos:
            status, payload, hdrs = self._error(409, message=f"You already created this {repo_type} repo")
            payload["url"] = url
            return status, payload, hdrs
        self.add_repo(repo_id, user, repo_type, private=data.get("visibility") == "private"
                      or bool(data.get("private")))
        self.repos[(repo_type, repo_id)].create_payload = data  # type: ignore[attr-defined]
        return 200, {"url": url, "name": repo_id}, {}

    def _repo_for(self, kind: str, repo_id: str) -> Repo | None:
        return self.repos.get((kind.rstrip("s"), repo_id))

    def _r_repo_info(self, m, headers, body, user):
        repo = self._repo_for(m.group(1), m.group(2))
        if repo is None or repo.private and repo.owner != user:
            return self._error(404, "RepoNotFound")
        sha = repo.commits[-1]["oid"] if repo.commits else "0" * 40
        return 200, {"id": repo.repo_id, "sha": sha, "private": repo.private, "author": repo.owner,
                     "siblings": [{"rfilename": f} for f in sorted(repo.files)]}, {}

    def _r_validate(self, m, headers, body, user):
        return 200, {"errors": [], "warnings": []}, {}

    def _writable(self, kind: str, repo_id: str, user: str, headers):
        repo = self._repo_for(kind, repo_id)
        if repo is None:
            return None, self._error(404, "RepoNotFound")
        if repo.owner != user or self._token(headers) in self.read_only_tokens:
            return None, self._error(403, message="You don't have write access to this repo")
        return repo, None

    def _is_lfs(self, path: str, size: int) -> bool:
        return self.lfs and (path.endswith((".safetensors", ".bin", ".pt", ".gguf", ".parquet"))
                             or size > 10 * 1024 * 1024)

    def _r_preupload(self, m, headers, body, user):
        repo, error = self._writable(m.group(1), m.group(2), user, headers)
        if error:
            return error
        files = json.loads(body)["files"]
        return 200, {"files": [{"path": f["path"], "uploadMode": "lfs" if self._is_lfs(f["path"], f["size"])
                                else "regular", "shouldIgnore": False, "oid": None} for f in files],
                     "commitOid": repo.commits[-1]["oid"] if repo.commits else "0" * 40}, {}

    def _r_lfs_batch(self, m, headers, body, user):
        kind = (m.group(1) or "models")
        repo, error = self._writable(kind, m.group(2), user, headers)
        if error:
            return error
        data = json.loads(body)
        objects = []
        for obj in data["objects"]:
            entry = {"oid": obj["oid"], "size": obj["size"], "authenticated": True}
            if obj["oid"] not in self.lfs_objects:
                entry["actions"] = {"upload": {"href": f"{self.url}/__lfs/{obj['oid']}"},
                                    "verify": {"href": f"{self.url}/__lfs/verify"}}
            objects.append(entry)
        return 200, {"transfer": "basic", "objects": objects, "hash_algo": "sha256"}, {}

    def _r_lfs_upload(self, m, headers, body, user):
        oid = m.group(1)
        if hashlib.sha256(body).hexdigest() != oid:
            return self._error(400, message="sha256 mismatch")
        self.lfs_objects[oid] = body
        return 200, {}, {}

    def _r_lfs_verify(self, m, headers, body, user):
        data = json.loads(body)
        if data.get("oid") not in self.lfs_objects:
            return self._error(404, message="object not uploaded")
        return 200, {}, {}

    def _r_commit(self, m, headers, body, user):
        repo, error = self._writable(m.group(1), m.group(2), user, headers)
        if error:
            return error
        header, files = {}, {}
        for line in body.decode("utf-8").splitlines():
            if not line.strip():
                continue
            item = json.loads(line)
            value = item["value"]
            if item["key"] == "header":
                header = value
            elif item["key"] == "file":
                files[value["path"]] = base64.b64decode(value["content"])
            elif item["key"] == "lfsFile":
                if value["oid"] not in self.lfs_objects:
                    return self._error(400, message=f"LFS object for {value['path']} was never uploaded")
                files[value["path"]] = self.lfs_objects[value["oid"]]
            elif item["key"] in ("deletedFile", "deletedFolder"):
                files[value["path"]] = None
        if not header.get("summary"):
            return self._error(400, message="commit summary missing")
        oid = hashlib.sha1(body).hexdigest()
        for path, data in files.items():
            if data is None:
                repo.files.pop(path, None)
            else:
                repo.files[path] = data
        repo.commits.append({"oid": oid, "summary": header["summary"],
                             "description": header.get("description", ""), "files": sorted(files)})
        prefix = "" if repo.repo_type == "model" else f"{repo.repo_type}s/"
        return 200, {"success": True, "commitOid": oid,
                     "commitUrl": f"{self.url}/{prefix}{repo.repo_id}/commit/{oid}",
                     "pullRequestUrl": None}, {}
