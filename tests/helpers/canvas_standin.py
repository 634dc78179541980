"""A stand-in for Canvas's REST API on 127.0.0.1: the few endpoints the kit's post uses, nothing else.

Shapes are Canvas's API documentation's (Courses, Assignments, Submissions, Submission Comments,
File Uploads, Pagination, Throttling) and ``canvasapi``'s test fixtures (``submission.json``,
``uploader.json``):

- ``GET /api/v1/courses/:course_id`` and ``GET .../assignments/:assignment_id``;
- ``GET .../assignments/:assignment_id/submissions`` (List assignment submissions) with
  ``include[]=submission_comments``, paginated by ``per_page`` and ``Link: <...>; rel="next"``;
- ``PUT .../submissions/:user_id`` (Grade or comment on a submission) with ``submission[posted_grade]``,
  ``comment[text_comment]``, ``comment[attempt]`` and ``comment[file_ids][]``;
- ``POST .../submissions/:user_id/comments/files`` (step 1 of a file upload: ``upload_url`` and
  ``upload_params``), and the upload itself (step 2, multipart, without the token) answered
  ``201`` with the file's JSON (step 3 confirmed in the same answer, as Canvas's file store does).

Every API call needs ``Authorization: Bearer <token>``. Every answer carries ``X-Request-Cost`` and
``X-Rate-Limit-Remaining``. ``fail`` queues answers for a user's next PUT or upload: a throttled call
("403 Forbidden (Rate Limit Exceeded)"), a permission's 403. Any other request is answered 404
and kept in ``unexpected``; every request is kept in ``requests``.
"""

import email.parser
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

THROTTLED = (403, {"X-Rate-Limit-Remaining": "0.0"}, "403 Forbidden (Rate Limit Exceeded)")
NOT_ALLOWED = (403, {}, json.dumps({"status": "unauthorized", "errors": [{"message": "user not authorized to perform that action"}]}))
INVALID_TOKEN = json.dumps({"errors": [{"message": "Invalid access token."}]})


@dataclass
class Request:
    method: str
    path: str
    query: dict
    form: dict
    authorization: str | None


@dataclass
class Canvas:
    token: str
    course_id: int
    assignment_id: int
    submissions: dict = field(default_factory=dict)  # user id -> submission JSON, comments included
    fail: dict = field(default_factory=dict)  # (method, user id) -> [(status, headers, body)] answered first
    requests: list = field(default_factory=list)
    unexpected: list = field(default_factory=list)
    files: dict = field(default_factory=dict)  # file id -> (name, bytes)
    url: str = ""

    def posts(self) -> list[Request]:
        """The requests that change something."""
        return [request for request in self.requests if request.method != "GET"]

    def comments(self, user_id: int) -> list[dict]:
        return self.submissions[user_id]["submission_comments"]


def submission(canvas: Canvas, user_id: int, *, attempt: int | None = 1, state: str = "submitted") -> dict:
    """A submission as Canvas lists it (the Submission object of the Submissions API)."""
    return {
        "id": 70000 + user_id,
        "assignment_id": canvas.assignment_id,
        "user_id": user_id,
        "attempt": attempt,
        "body": None,
        "grade": None,
        "score": None,
        "entered_score": None,
        "grade_matches_current_submission": True,
        "submitted_at": "2026-11-20T23:59:00Z" if attempt else None,
        "submission_type": "online_upload" if attempt else None,
        "workflow_state": state if attempt else "unsubmitted",
        "late": False,
        "missing": False,
        "posted_at": None,
        "preview_url": f"{canvas.url}/courses/{canvas.course_id}/assignments/{canvas.assignment_id}/submissions/{user_id}?preview=1",
        "submission_comments": [],
    }


def serve(canvas: Canvas):
    """Start the stand-in on a free port of 127.0.0.1; returns the server (``shutdown()`` it)."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            self.handle_request()

        def do_PUT(self):
            self.handle_request()

        def do_POST(self):
            self.handle_request()

        def handle_request(self):
            url = urlsplit(self.path)
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            form = parse_qs(body.decode(), keep_blank_values=True) if "urlencoded" in (self.headers.get("Content-Type") or "") else {}
            request = Request(self.command, url.path, parse_qs(url.query), form, self.headers.get("Authorization"))
            canvas.requests.append(request)
            with lock:
                self.answer(*route(request, body, self.headers.get("Content-Type") or ""))

        def answer(self, status, headers, text):
            data = text.encode()
            self.send_response(status)
            for name, value in {"Content-Type": "application/json; charset=utf-8", "X-Request-Cost": "0.01", "X-Rate-Limit-Remaining": "700.0", **headers}.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    def route(request: Request, body: bytes, content_type: str):
        base = f"/api/v1/courses/{canvas.course_id}"
        submissions = f"{base}/assignments/{canvas.assignment_id}/submissions"
        upload = re.fullmatch(r"/files_api/upload/(\d+)", request.path)
        if upload and request.method == "POST":
            if request.authorization:
                return 400, {}, json.dumps({"message": "the token goes to Canvas, not to its file store"})
            user_id = int(upload[1])
            if canvas.fail.get(("upload", user_id)):
                return canvas.fail[("upload", user_id)].pop(0)
            name, data = multipart_file(body, content_type)
            file_id = 900 + len(canvas.files)
            canvas.files[file_id] = (name, data)
            return 201, {}, json.dumps({"id": file_id, "display_name": name, "filename": name, "size": len(data), "content-type": "text/markdown", "url": f"{canvas.url}/files/{file_id}/download"})
        if request.authorization != f"Bearer {canvas.token}":
            return 401, {"WWW-Authenticate": 'Bearer realm="canvas-lms"'}, INVALID_TOKEN
        if request.method == "GET" and request.path == base:
            return 200, {}, json.dumps({"id": canvas.course_id, "name": "Deep Learning", "course_code": "DL-101", "workflow_state": "available"})
        if request.method == "GET" and request.path == f"{base}/assignments/{canvas.assignment_id}":
            return 200, {}, json.dumps({"id": canvas.assignment_id, "course_id": canvas.course_id, "name": "Exercise 6-3 (LSTM)", "points_possible": 23.0, "grading_type": "points"})
        if request.method == "GET" and request.path == submissions:
            if request.query.get("include[]") != ["submission_comments"]:
                return 404, {}, json.dumps({"errors": [{"message": "the kit reads the comments with the submissions"}]})
            per_page = int(request.query.get("per_page", ["10"])[0])
            page = int(request.query.get("page", ["1"])[0])
            everything = list(canvas.submissions.values())
            shown = everything[(page - 1) * per_page : page * per_page]
            headers = {}
            if page * per_page < len(everything):
                headers["Link"] = f'<{canvas.url}{submissions}?include[]=submission_comments&page={page + 1}&per_page={per_page}>; rel="next"'
            return 200, headers, json.dumps(shown)
        user = re.fullmatch(re.escape(submissions) + r"/(\d+)(/comments/files)?", request.path)
        if user and int(user[1]) in canvas.submissions:
            user_id = int(user[1])
            if user[2] and request.method == "POST":
                if canvas.fail.get(("POST", user_id)):
                    return canvas.fail[("POST", user_id)].pop(0)
                return 200, {}, json.dumps({"upload_url": f"{canvas.url}/files_api/upload/{user_id}", "upload_params": {"filename": request.form["name"][0], "content_type": "text/markdown"}})
            if not user[2] and request.method == "PUT":
                if canvas.fail.get(("PUT", user_id)):
                    return canvas.fail[("PUT", user_id)].pop(0)
                return 200, {}, json.dumps(grade_or_comment(canvas, user_id, request.form))
        canvas.unexpected.append(request)
        return 404, {}, json.dumps({"errors": [{"message": "The specified resource does not exist."}]})

    lock = threading.Lock()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    canvas.url = f"http://127.0.0.1:{server.server_address[1]}"
    # Polled every 20 ms (not 0.5 s) for shutdown(), which each test's fixture waits for.
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
    return server


def grade_or_comment(canvas: Canvas, user_id: int, form: dict) -> dict:
    """What Canvas does with the PUT's fields; the submission as it answers (no comments unless asked)."""
    held = canvas.submissions[user_id]
    if "submission[posted_grade]" in form:
        score = float(form["submission[posted_grade]"][0])
        held.update(score=score, grade=f"{score:g}", entered_score=score, workflow_state="graded")
    if "comment[text_comment]" in form or "comment[file_ids][]" in form:
        files = [int(file_id) for file_id in form.get("comment[file_ids][]", [])]
        held["submission_comments"].append(
            {
                "id": 5000 + sum(len(s["submission_comments"]) for s in canvas.submissions.values()),
                "author_id": 1,
                "author_name": "Instructor",
                "comment": form.get("comment[text_comment]", [""])[0],
                "created_at": "2026-12-05T12:00:00Z",
                "edited_at": None,
                "attempt": int(form["comment[attempt]"][0]) if "comment[attempt]" in form else None,
                "attachments": [{"id": file_id, "display_name": canvas.files[file_id][0]} for file_id in files],
            }
        )
    return {key: value for key, value in held.items() if key != "submission_comments"}


def multipart_file(body: bytes, content_type: str) -> tuple[str, bytes]:
    message = email.parser.BytesParser().parsebytes(f"Content-Type: {content_type}\r\n\r\n".encode() + body)
    part = next(part for part in message.get_payload() if part.get_filename())
    return part.get_filename(), part.get_payload(decode=True)
