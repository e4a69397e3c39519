"""What a newcomer meets on the command line: fast help, one-line errors that say what to do,
exit codes a script can read, and an install that works outside the checkout."""
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from clients import free_port

from digitpad import home
from digitpad.models import MODELS
from digitpad.weights import WEIGHTS_DIR


# An editable install (CI's) adds a finder that serves any digitpad module missing from the
# wheel out of the checkout: the wheel's children must not see it.
WITHOUT_EDITABLE = ("import sys\nsys.meta_path[:] = [f for f in sys.meta_path "
                    "if '__editable__' not in getattr(f, '__module__', '')]\n")


def run(*args, **kwargs):
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=120, **kwargs)


def assert_one_clear_line(out, *needles):
    assert out.returncode not in (0, None)
    assert "Traceback" not in out.stderr
    for needle in needles:
        assert needle in out.stderr, out.stderr


def test_help_answers_without_importing_torch_or_gradio():
    out = run("-c", "import sys\nfrom digitpad.cli import main\ntry:\n    main(['--help'])\n"
                    "except SystemExit:\n    pass\n"
                    "print(sorted(m for m in ('torch', 'gradio') if m in sys.modules))")
    assert out.returncode == 0
    assert "--port" in out.stdout and "--weights" in out.stdout and "widekernel" in out.stdout
    assert out.stdout.strip().endswith("[]")


def test_teaching_imports_neither_the_training_script_nor_plotting():
    """The page's corrections share train_step through digitpad.steps, not train.py's matplotlib."""
    out = run("-c", "import sys, digitpad.personal; "
                    "print([m for m in ('matplotlib', 'digitpad.train') if m in sys.modules])")
    assert out.returncode == 0 and out.stdout.strip() == "[]", out.stderr


def test_a_port_in_use_names_the_port_flag():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        out = run("-m", "digitpad", "--port", str(s.getsockname()[1]))
    assert_one_clear_line(out, "already in use", "--port")


def test_a_missing_weights_file_names_the_command_that_writes_it_into_the_home_folder():
    out = run("-m", "digitpad", "--weights", "/nonexistent.pt")
    assert_one_clear_line(out, "no weights file at /nonexistent.pt", "python scripts/train.py",
                          f"which writes {home.runs_dir() / 'digitcnn.pt'}")
    assert "--out /" not in out.stderr  # never a hint to write beside the missing file


def test_a_port_out_of_range_is_one_line():
    out = run("-m", "digitpad", "--port", "99999")
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "'99999' is not a port: give a number from 1 to 65535" in out.stderr


def test_a_host_that_is_no_address_is_one_line(capsys):
    from digitpad.cli import parse_args

    with pytest.raises(SystemExit) as e:
        parse_args(["--host", "127.0.0.01"])
    assert e.value.code == 2
    assert "'127.0.0.01' is not an IPv4 address: Leading zeros are not permitted" in capsys.readouterr().err
    assert [parse_args(["--host", h]).host for h in ("127.1", "0.0.0.0", "localhost")] == ["127.1", "0.0.0.0", "localhost"]


def test_a_home_folder_that_cannot_be_written_is_one_line(tmp_path):
    (tmp_path / "file").write_text("")
    out = run("-m", "digitpad", "--home", str(tmp_path / "file" / "home"))
    assert_one_clear_line(out, f"cannot write to its home folder {tmp_path / 'file' / 'home'}",
                          "(Not a directory)", "--home")


def test_ctrl_c_while_starting_exits_130_without_a_traceback():
    proc = subprocess.Popen([sys.executable, "-m", "digitpad", "--port", str(free_port())],
                            stderr=subprocess.PIPE, text=True)
    time.sleep(1.5)  # importing torch and gradio takes several seconds
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "Traceback" not in err, err
    assert err.strip().endswith("digitpad: stopped")


def test_junk_weights_never_suggest_loading_them_unsafely(tmp_path):
    (tmp_path / "digitcnn.pt").write_bytes(b"not a checkpoint")
    out = run("-m", "digitpad", "--weights", str(tmp_path / "digitcnn.pt"))
    assert_one_clear_line(out, "not a readable digitpad checkpoint", "never runs code",
                          "python scripts/train.py")
    assert "weights_only" not in out.stderr


def test_missing_pen_digits_name_the_flag(tmp_path):
    out = run("scripts/eval_drawn.py", "--pendigits", str(tmp_path / "none.tra"))
    assert_one_clear_line(out, "error: pen-drawn digits not found", "--pendigits")


def test_ctrl_c_saves_the_best_epoch_and_exits_130_without_touching_shipped_weights(
        own_home, mnist_root, few_pen_digits):
    shipped = {p.name: p.stat().st_mtime_ns for p in WEIGHTS_DIR.glob("*.pt")}
    env = {**os.environ, "DIGITPAD_HOME": str(own_home), "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "scripts/train.py", "--data", "mnist", "--limit", "2000",
                             "--val-size", "500", "--epochs", "1000", "--data-dir", str(mnist_root)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            # As from a terminal: a shell's background job would inherit SIGINT ignored.
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    for line in proc.stdout:
        if line.startswith("epoch  1"):
            break
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "interrupted after epoch" in err and "--resume" in err and "Traceback" not in err
    assert (own_home / "runs" / "digitcnn.pt").is_file()     # the default --out: digitpad's home
    assert {p.name: p.stat().st_mtime_ns for p in WEIGHTS_DIR.glob("*.pt")} == shipped


def test_a_built_wheel_loads_every_model_and_serves_the_page_outside_the_checkout(tmp_path):
    """Build from a clean copy of the tracked files, install into a fresh folder, load from /,
    and start the page from it: every subpackage (digitpad.app too) must be in the wheel, and
    serving writes nothing into it (a gr.Slider subclass once made Gradio write a .pyi there)."""
    tracked = subprocess.run(["git", "ls-files"], capture_output=True, text=True, check=True).stdout.split()
    src = tmp_path / "src"
    for name in tracked:
        if Path(name).is_file():
            (src / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(name, src / name)
    built = run("-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", str(tmp_path / "dist"),
                str(src))
    assert built.returncode == 0, built.stderr
    [wheel] = (tmp_path / "dist").glob("digitpad-*.whl")
    target = tmp_path / "site"
    installed = run("-m", "pip", "install", "--no-deps", "--target", str(target), str(wheel))
    assert installed.returncode == 0, installed.stderr
    env = {**os.environ, "PYTHONPATH": str(target), "DIGITPAD_HOME": str(tmp_path / "home")}
    out = run("-c", WITHOUT_EDITABLE + "from digitpad.models import MODELS\nfrom digitpad.weights import load\n"
                    "for name in MODELS:\n    print(load(name).path)\n",
              cwd="/", env=env)
    assert out.returncode == 0, out.stderr
    paths = out.stdout.split()
    assert len(paths) == len(MODELS) and all(p.startswith(str(target)) for p in paths)

    files = {p for p in target.rglob("*") if "__pycache__" not in p.parts}
    port, log = free_port(), tmp_path / "server.log"
    with open(log, "w") as out:
        server = subprocess.Popen([sys.executable, "-c", WITHOUT_EDITABLE + "import runpy\nrunpy.run_module("
                                   "'digitpad', run_name='__main__', alter_sys=True)", "--port", str(port)],
                                  cwd="/", env=env, stdout=out, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 90
        while "Ctrl-C stops it" not in log.read_text():  # printed once the page serves
            assert server.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "the installed app never said it was serving"
            time.sleep(0.5)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=30) as page:
            assert page.status == 200 and b"digitpad" in page.read()
    finally:
        server.terminate()
        server.wait(10)
    assert f"from {target}" in log.read_text()  # it served the installed package's weights
    written = {p for p in target.rglob("*") if "__pycache__" not in p.parts} - files
    assert not written, f"serving wrote into the installed package: {sorted(map(str, written))}"


def test_the_default_mnist_folder_is_made_in_digitpads_home(tmp_path, monkeypatch):
    from digitpad import data

    monkeypatch.setenv("DIGITPAD_HOME", str(tmp_path))
    monkeypatch.delenv("DIGITPAD_DATA", raising=False)
    assert data.default_data_dir() == tmp_path / "mnist" and (tmp_path / "mnist").is_dir()
    assert not data.has_mnist(tmp_path / "mnist")
