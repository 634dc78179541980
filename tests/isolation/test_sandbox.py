"""Nothing lost: a graded notebook can neither read the instructor's files nor touch the batch's.

The attacker here is as strong as a student can be: it is told the absolute paths of the solution,
of the submissions folder and of the output folder. It tries to read the solution and run it for
points, and to overwrite, delete and add files in both folders. The same batch is also graded with
``--no-sandbox``, where the attack works: the test would notice a sandbox that stopped working.
"""

import ctypes
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import suppress
from pathlib import Path

import pandas as pd
import psutil
import pytest

from corpus import variants
from exercise_kit.grading import watch
from exercise_kit.isolation import confine
from exercise_kit.grading.batch import grade_folder
from exercise_kit.paths import NOTEBOOK_NAME, SOLUTION_DIR
from helpers.ordinary_user import USER, become_ordinary_user

ATTACK = '''\
import json, os
from pathlib import Path

SOLUTION, SUBMISSIONS, OUT = {solution!r}, {submissions!r}, {out!r}
try:  # the instructor's solution, run for points (as far as it runs outside a file: its data)
    for cell in json.loads(Path(SOLUTION).read_text())["cells"]:
        if cell["cell_type"] == "code" and "grader" not in "".join(cell["source"]):
            exec("".join(cell["source"]))
except Exception as error:
    print("solution:", repr(error))
for folder in (SUBMISSIONS, OUT):
    try:
        for path in Path(folder).rglob("*"):
            if path.is_file() and path.name != "attacker.ipynb":
                path.write_text("{{}}")
        (Path(folder) / "pwned.txt").write_text("pwned")
    except Exception as error:
        print(folder, repr(error))
'''

# A canary: the grader's own environment variables are not the kernel's, nor in its process image.
READ_ENVIRONMENT = """\
import os
from pathlib import Path

leaked = "INSTRUCTORS_TOKEN" in os.environ or b"INSTRUCTORS_TOKEN" in Path("/proc/self/environ").read_bytes()
"""


def grade_batch(folder: Path, sandboxed: bool):
    """The solution and the attacker graded in one batch; (grades, submissions' bytes before)."""
    submissions, out = folder / "submissions", folder / "out"
    variants.write_corpus(submissions, [variants.by_name("correct-extra-cells.ipynb")])
    attack = ATTACK.format(solution=str(SOLUTION_DIR / NOTEBOOK_NAME), submissions=str(submissions), out=str(out))
    variants.on_template(attack, after="X = ...\nY = ...")(submissions / "attacker.ipynb")  # in place of Q1's answer
    before = {path.name: digest(path) for path in submissions.iterdir()}
    grades = grade_folder(submissions, out, workers=2, timeout=180, sandboxed=sandboxed).set_index("file")
    return grades, before


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def sandboxed_batch(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sandboxed")
    return folder, *grade_batch(folder, sandboxed=True)


@pytest.mark.slow
def test_a_notebook_cannot_read_the_solution_for_points(sandboxed_batch):
    _, grades, _ = sandboxed_batch
    assert grades.loc["attacker.ipynb", "total_points_earned"] == 0
    assert grades.loc["correct-extra-cells.ipynb", "total_points_earned"] == 20


@pytest.mark.slow
def test_a_notebook_cannot_change_delete_or_add_submissions(sandboxed_batch):
    folder, _, before = sandboxed_batch
    after = {path.name: digest(path) for path in (folder / "submissions").iterdir()}
    assert after == before


@pytest.mark.slow
def test_a_notebook_cannot_change_or_add_files_in_the_output_folder(sandboxed_batch):
    folder, grades, _ = sandboxed_batch
    out = folder / "out"
    assert not list(out.rglob("pwned.txt"))
    assert all(path.read_text() != "{}" for path in out.rglob("*.json"))
    assert grades.loc["attacker.ipynb", "grading_status"] == "Completed"


@pytest.mark.slow
def test_without_the_sandbox_the_same_notebook_does_both(tmp_path):
    """The attack is real: unsandboxed, it earns points from the solution and damages the batch."""
    grades, before = grade_batch(tmp_path, sandboxed=False)
    assert grades.loc["attacker.ipynb", "total_points_earned"] > 0
    assert grades.loc["attacker.ipynb", "grading_status"] == "Completed; unsandboxed"
    assert (tmp_path / "submissions" / "pwned.txt").exists()
    assert digest(tmp_path / "submissions" / "correct-extra-cells.ipynb") != before["correct-extra-cells.ipynb"]


@pytest.fixture
def users_folder():
    """A folder that ``nobody`` can reach (pytest's own are root's only)."""
    folder = Path(tempfile.mkdtemp(prefix="exercise-kit-user-", dir="/var/tmp"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder)


@pytest.mark.slow
@pytest.mark.root
def test_an_ordinary_user_grades_with_sandboxed_kernels(users_folder):
    """Not only root: an instructor's own account gets the same sandbox (user namespaces, Landlock)."""
    tmp_path = users_folder
    submissions = tmp_path / "submissions"
    variants.write_corpus(submissions, [variants.by_name("correct-extra-cells.ipynb"), variants.by_name("hostile-uses-grader-reference.ipynb")])
    variants.on_template(ATTACK.format(solution=str(SOLUTION_DIR / NOTEBOOK_NAME), submissions=str(submissions), out="/nonexistent"), after="X = ...\nY = ...")(
        submissions / "attacker.ipynb"
    )
    reads_environment = variants.edited(
        variants.SOLUTION,
        variants.AddCell(variants.TEMPLATE_IMPORTS, READ_ENVIRONMENT),
        variants.Replace('answer_forget_gate = "A"', 'answer_forget_gate = "C" if leaked else "A"'),
    )
    reads_environment(submissions / "reads-environment.ipynb")
    for path in [tmp_path, *tmp_path.rglob("*")]:
        os.chown(path, USER, USER)
    before = {path.name: digest(path) for path in submissions.iterdir()}
    command = [sys.executable, "-m", "exercise_kit", "grade", str(submissions), "--out", str(tmp_path / "out"), "--timeout", "180"]
    environment = {**os.environ, "HOME": str(tmp_path), "INSTRUCTORS_TOKEN": "secret-of-the-grader"}
    subprocess.run(command, cwd=tmp_path, env=environment, preexec_fn=become_ordinary_user, check=True, capture_output=True)

    grades = pd.read_csv(tmp_path / "out" / "final_grades.csv").set_index("file")
    assert grades["total_points_earned"].to_dict() == {
        "points-per-question": 20,
        "attacker.ipynb": 0,
        "correct-extra-cells.ipynb": 20,
        "hostile-uses-grader-reference.ipynb": 1,
        "reads-environment.ipynb": 20,  # it would have spoilt an answer had it found the grader's variable
    }
    assert set(grades["grading_status"].iloc[1:]) == {"Completed"}
    assert {path.name: digest(path) for path in submissions.iterdir()} == before


# Limits that hold for every process the kernel makes (issue 16): fast tests of the worker's side.

# Leaves its session (a no-op when confined), becomes a subreaper, and keeps a child that moves to
# a new pid every few milliseconds; run with an empty environment, so it carries no grading marker.
HOPPER = """\
import ctypes, os, time

ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
if os.fork():
    while True:
        os.wait()
while True:
    time.sleep(0.005)
    if os.fork():
        os._exit(0)
"""


def start_hopper(work: Path, mode: str, token: str) -> int:
    """A grading child (its own session, a subreaper) whose confined kernel starts the hopper and
    which then exits, as a child does when grading ends; its pid, its group's id."""
    child = os.fork()
    if child == 0:
        try:
            os.setsid()
            if os.fork() == 0:
                if mode == "user":
                    become_ordinary_user()
                confine.confine(work)
                os.setsid()
                os.execve(sys.executable, [sys.executable, "-c", HOPPER, token], {})
            time.sleep(1)
        finally:
            os._exit(0)
    os.waitpid(child, 0)
    return child


def hoppers(token: str, seconds: float = 0.5) -> int:
    """How many processes of the hopper are seen in a few scans (its pids, one after another)."""
    seen, deadline = set(), time.monotonic() + seconds
    while time.monotonic() < deadline:
        seen |= {process.pid for process in psutil.process_iter(["cmdline"]) if token in (process.info["cmdline"] or [])}
    return len(seen)


@pytest.mark.slow
@pytest.mark.root
@pytest.mark.parametrize("mode", ["root", "user"])
def test_no_process_of_the_kernel_outlives_the_kill(users_folder, mode):
    """The hopper left the child's tree when the child exited, and has no marker: the child's
    group (which a confined process cannot leave) and, as root, the kernel's uid still reach it."""
    work, token = users_folder / "work", uuid.uuid4().hex
    work.mkdir()
    os.chown(work, USER, USER)
    child = start_hopper(work, mode, token)
    try:
        assert hoppers(token) >= 2
        watch.kill_tree(child, "no marker", uid=work.stat().st_uid if mode == "root" else None)
        assert hoppers(token) == 0
    finally:
        with suppress(ProcessLookupError):
            os.killpg(child, signal.SIGKILL)


@pytest.mark.slow
@pytest.mark.root
def test_as_root_every_process_of_the_kernels_uid_is_killed(users_folder):
    work, token = users_folder / "work", uuid.uuid4().hex
    work.mkdir()
    child = start_hopper(work, "root", token)
    try:
        assert hoppers(token) >= 2
        watch._kill_uid(work.stat().st_uid)
        assert hoppers(token) == 0
    finally:
        with suppress(ProcessLookupError):
            os.killpg(child, signal.SIGKILL)


def test_disk_use_is_measured_past_path_max(tmp_path):
    """20 folders of 250-character names: their paths are longer than PATH_MAX (4096)."""
    fd = os.open(tmp_path, os.O_RDONLY)
    for _ in range(20):
        os.mkdir("d" * 250, dir_fd=fd)
        fd, parent = os.open("d" * 250, os.O_RDONLY, dir_fd=fd), fd
        os.close(parent)
    data = os.open("data", os.O_WRONLY | os.O_CREAT, dir_fd=fd)
    os.write(data, b"x" * 2**22)
    os.close(data)
    os.close(fd)
    assert 4 <= watch.disk_mb(tmp_path, 100) < 5


@pytest.mark.root
def test_a_folder_that_cannot_be_measured_counts_as_over_the_cap(users_folder):
    """As an ordinary user's grader, whose kernel shares its uid, a folder made unreadable."""
    hidden = users_folder / "work" / "hidden"
    hidden.mkdir(parents=True)
    (hidden / "data").write_bytes(b"x" * 2**20)
    hidden.chmod(0)
    for path in (users_folder / "work", hidden, hidden / "data"):
        os.chown(path, USER, USER)
    read, write = os.pipe()
    child = os.fork()
    if child == 0:
        become_ordinary_user()
        os.write(write, str(watch.disk_mb(users_folder / "work", 100)).encode())
        os._exit(0)
    os.close(write)
    os.waitpid(child, 0)
    assert os.read(read, 100) == b"inf"
    assert watch.disk_mb(users_folder / "work", 100) == 1.0  # root reads it


def test_a_kernel_starts_with_none_of_its_ancestors_descriptors():
    """Standard streams from /dev/null, nothing else open: the grader's pipes, log and sockets stay out of reach."""
    from exercise_kit.isolation import fork_kernel

    inherited = os.open(os.devnull, os.O_RDONLY)  # stands for the "alive" pipe, grading.log, ...
    child = os.fork()
    if child == 0:
        fork_kernel._close_inherited_descriptors()
        left = {int(fd): os.readlink(f"/proc/self/fd/{fd}") for fd in os.listdir("/proc/self/fd") if os.path.exists(f"/proc/self/fd/{fd}")}
        os._exit(0 if left == dict.fromkeys((0, 1, 2), "/dev/null") else 1)
    os.close(inherited)
    assert os.waitstatus_to_exitcode(os.waitpid(child, 0)[1]) == 0


FORK_SERVER_STOPPED = """\
import os, signal, sys
from exercise_kit.isolation import fork_server

fork_server.start()
server = sys.modules["multiprocessing.forkserver"]._forkserver
environment = open(f"/proc/{server._forkserver_pid}/environ", "rb").read()
os.kill(server._forkserver_pid, signal.SIGKILL)
while open(f"/proc/{server._forkserver_pid}/stat").read().split()[2] != "Z":  # dead, not yet reaped
    pass
try:
    fork_server.context().Process(target=print).start()
except fork_server.ForkServerStopped as error:
    print(error)
print("secret" if b"EXERCISE_KIT_CANARY_SECRET" in environment else "short")
"""


def test_a_stopped_fork_server_is_not_started_again(tmp_path):
    """Not with the grader's whole environment, as multiprocessing would: the batch's rest fails, and says why."""
    environment = {**os.environ, "EXERCISE_KIT_CANARY_SECRET": "the-instructors-token"}
    run = subprocess.run([sys.executable, "-c", FORK_SERVER_STOPPED], cwd=tmp_path, env=environment, capture_output=True, text=True, timeout=120)
    assert run.stdout.splitlines()[-2:] == ["The batch's fork server has stopped, so this submission could not be graded: grade it again in a new run.", "short"], run.stderr[-2000:]


SCRIPT_THAT_GRADES = """\
from pathlib import Path

with open(Path(__file__).with_name("runs.txt"), "a") as runs:
    runs.write("ran\\n")

if __name__ == "__main__":
    from exercise_kit.isolation import fork_server

    for _ in range(2):
        child = fork_server.context().Process(target=print)
        child.start()
        child.join()
"""


@pytest.mark.slow
def test_a_script_that_grades_is_not_run_again_in_each_grading_child(tmp_path):
    """multiprocessing runs the main script again in each child it starts; a grading child's
    target is the kit's own, so the script (its imports: 0.27 s a child with pandas) runs once."""
    script = tmp_path / "grade_my_class.py"
    script.write_text(SCRIPT_THAT_GRADES)
    subprocess.run([sys.executable, str(script)], cwd=tmp_path, check=True, capture_output=True, timeout=120)
    assert (tmp_path / "runs.txt").read_text() == "ran\n"


# Each values answer carries an error of 100 MB, under a name the record copies: ZeroMQ refuses the
# message as it arrives, and grading stops with the output limit.
FLOOD_ERRORS = """\
import IPython

FLOOD = "E" * (100 * 2**20)
shell = IPython.get_ipython()
publish = shell.display_pub.publish


def flooded(data, *args, **kwargs):
    answer = data.get("application/vnd.exercise-kit.values+json")
    if isinstance(answer, dict):
        errors = answer.setdefault("errors", {})
        errors[next(iter(errors), "flood")] = FLOOD
    return publish(data, *args, **kwargs)


shell.display_pub.publish = flooded
"""

# The peak is VmHWM, this process image's own: ru_maxrss would start from its parent's at the fork.
GRADE_AND_MEASURE = """\
import sys
from exercise_kit.grading.batch import grade_folder

grades = grade_folder(sys.argv[1], sys.argv[2], workers=1)
print(grades["grading_status"].iloc[1])
print(next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:")) // 1024)
"""


@pytest.mark.slow
def test_an_error_flood_leaves_the_grader_and_its_output_small(tmp_path):
    """The grade command's own memory (peak RSS) and its output folder, whatever the kernel answers."""
    submissions, out = tmp_path / "submissions", tmp_path / "out"
    submissions.mkdir()
    variants.on_template(FLOOD_ERRORS)(submissions / "floods-errors.ipynb")
    run = subprocess.run([sys.executable, "-c", GRADE_AND_MEASURE, submissions, out], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    status, peak_mb = run.stdout.splitlines()[-2:]
    assert status.startswith("Output limit: "), run.stderr[-2000:]
    assert int(peak_mb) < 400  # about 175 MB; 1.4 GB before the bounds
    assert sum(path.stat().st_size for path in out.rglob("*") if path.is_file()) < 2**20


def test_files_deleted_but_held_open_count_on_the_disk(tmp_path):
    """A file unlinked (or made with O_TMPFILE) while open takes disk that no walk of the folder
    sees: those of the tree's processes count, and a zombie's absent descriptors do not break it."""
    read, write = os.pipe()
    holder = os.fork()
    if holder == 0:
        for name in ("deleted", None):
            fd = os.open(tmp_path / name, os.O_WRONLY | os.O_CREAT) if name else os.open(tmp_path, os.O_WRONLY | os.O_TMPFILE)
            os.write(fd, b"x" * 2**22)
            if name:
                os.unlink(tmp_path / name)
        os.write(write, b"ready")
        time.sleep(60)
        os._exit(0)
    zombie = os.fork()
    if zombie == 0:
        os._exit(0)
    try:
        os.read(read, 5)
        processes = [psutil.Process(holder), psutil.Process(zombie)]
        assert 8 <= watch.disk_mb(tmp_path, 100, processes) < 9
        assert watch.disk_mb(tmp_path, 100) < 1
    finally:
        os.kill(holder, signal.SIGKILL)
        os.waitpid(holder, 0)
        os.waitpid(zombie, 0)


@pytest.mark.root
def test_as_an_ordinary_user_a_zombie_does_not_make_the_disk_unmeasurable(users_folder):
    """A zombie's /proc folder is root's: an ordinary user's grader cannot list its descriptors,
    and it holds none."""
    read, write = os.pipe()
    child = os.fork()
    if child == 0:
        become_ordinary_user()
        zombie = os.fork()
        if zombie == 0:
            os._exit(0)
        time.sleep(0.2)
        os.write(write, str(watch.disk_mb(users_folder, 100, [psutil.Process(zombie)])).encode())
        os._exit(0)
    os.close(write)
    os.waitpid(child, 0)
    assert float(os.read(read, 100)) < 1


@pytest.mark.slow
def test_a_folder_named_exercise_kit_where_grade_runs_is_never_imported(tmp_path):
    """The fork server runs ``python -c``, which would import first from the current folder: a
    plain folder of submissions graded in place may hold a student's folder of that name."""
    marker = tmp_path / "imported"
    (tmp_path / "exercise_kit").mkdir()
    for module in ("__init__.py", "preload.py"):
        (tmp_path / "exercise_kit" / module).write_text(f"open({str(marker)!r}, 'w').close()\n")
    submissions = tmp_path / "submissions"
    submissions.mkdir()
    shutil.copy(variants.TEMPLATE, submissions / "alice.ipynb")
    command = Path(sys.executable).with_name("exercise-kit")
    run = subprocess.run([str(command), "grade", "submissions", "--out", "graded"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert not marker.exists()
    assert pd.read_csv(tmp_path / "graded" / "final_grades.csv")["grading_status"].iloc[1] == "Completed"


def test_a_folder_nested_past_any_recursion_limit_and_locked_is_removed(tmp_path):
    top = tmp_path / "work"
    top.mkdir()
    fd = os.open(top, os.O_RDONLY)
    for _ in range(1500):  # shutil.rmtree, recursive in Python 3.11, raises RecursionError here
        os.mkdir("d", dir_fd=fd)
        deeper = os.open("d", os.O_RDONLY, dir_fd=fd)
        os.close(fd)
        fd = deeper
    os.close(os.open("left-behind", os.O_WRONLY | os.O_CREAT, 0o600, dir_fd=fd))
    os.close(fd)
    os.chmod(top / "d", 0o000)
    watch.remove_tree(top)
    assert not top.exists()


def test_a_deleted_file_kept_only_by_a_mapping_counts_towards_the_disk_cap(tmp_path):
    """A mapping keeps its file without a descriptor (libc's mmap keeps none; Python's dups one)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mmap.restype = ctypes.c_void_p
    libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
    libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
    path = tmp_path / "big"
    with open(path, "wb") as file:
        file.write(b"\1" * 2**24)  # 16 MB, written: it takes its blocks
    fd = os.open(path, os.O_RDONLY)
    address = libc.mmap(None, 4096, 1, 1, fd, 0)  # PROT_READ, MAP_SHARED, one page of it
    os.close(fd)
    path.unlink()
    try:
        assert watch.disk_mb(tmp_path, 100, [psutil.Process()]) >= 16
    finally:
        libc.munmap(address, 4096)
    assert watch.disk_mb(tmp_path, 100, [psutil.Process()]) < 1


def test_each_socket_counts_towards_the_memory_cap_at_its_default_buffers():
    """What a socket holds is in no process's PSS: the cap counts each one at the most it can hold."""
    before = watch.memory_mb([psutil.Process()], "pss")
    pairs = [socket.socketpair() for _ in range(50)]
    try:
        grown = watch.memory_mb([psutil.Process()], "pss") - before
    finally:
        for a, b in pairs:
            a.close()
            b.close()
    assert grown >= 100 * watch._default_socket_buffers() / 2**20
