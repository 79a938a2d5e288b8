"""Every usage error and every OS error of the installed ``sflaudit`` console script is one line with exit code 2."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from pathlib import Path

import pytest
import typer

import sflaudit.cli.commands as cli

SCRIPT = Path(sys.executable).with_name("sflaudit")  # the console script pip installed beside this interpreter


def run_script(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    if not SCRIPT.is_file():
        pytest.skip(f"console script {SCRIPT} is not installed (pip install -e .)")
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.run([str(SCRIPT), *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=300)


def assert_one_error_line(res: subprocess.CompletedProcess[str], *, contains: str) -> None:
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert res.returncode == 2, res.stderr
    assert "Traceback" not in res.stderr and "Traceback" not in res.stdout
    assert len(lines) == 1 and lines[0].startswith("error: "), res.stderr
    assert contains in lines[0], lines[0]


def test_train__unknown_option_is_one_line(tmp_path: Path) -> None:
    res = run_script("train", "--bogus", cwd=tmp_path)
    assert_one_error_line(res, contains="--bogus")


def test_report__unknown_option_is_one_line(tmp_path: Path) -> None:
    res = run_script("report", "--dataset", "x", cwd=tmp_path)
    assert_one_error_line(res, contains="--dataset")
    assert not (tmp_path / "runs").exists()


def test_invert__missing_checkpoint_is_one_line(tmp_path: Path) -> None:
    res = run_script("invert", cwd=tmp_path)
    assert_one_error_line(res, contains="--checkpoint")


def test_train__out_under_an_existing_file_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("keep")
    res = run_script("train", "--preset", "smoke", "--out", "afile/sub", "--quiet", cwd=tmp_path)
    assert_one_error_line(res, contains="afile")
    assert (tmp_path / "afile").read_text() == "keep"


def test_train__out_is_an_existing_file_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("keep")
    res = run_script("train", "--preset", "smoke", "--out", "afile", "--quiet", cwd=tmp_path)
    assert_one_error_line(res, contains="afile")
    assert (tmp_path / "afile").read_text() == "keep"


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores directory permissions, so chmod 0o555 blocks nothing")
def test_train__out_in_a_read_only_directory_is_one_line(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        res = run_script("train", "--preset", "smoke", "--out", "locked/run", "--quiet", cwd=tmp_path)
    finally:
        locked.chmod(0o755)
    assert_one_error_line(res, contains="locked")
    assert not (locked / "run").exists()


def test_train__out_where_not_even_root_may_create_is_one_line(tmp_path: Path) -> None:
    probe = Path("/sys/sflaudit-probe")  # sysfs refuses mkdir in its root, to root as well
    try:
        probe.mkdir()
    except OSError:
        pass
    else:
        probe.rmdir()
        pytest.skip("/sys accepts new directories here; no path to test an unwritable parent")
    res = run_script("train", "--preset", "smoke", "--out", "/sys/sflaudit-probe/run", "--quiet", cwd=tmp_path)
    assert_one_error_line(res, contains="/sys/sflaudit-probe")
    assert not probe.exists()


def test_help__exits_zero(tmp_path: Path) -> None:
    res = run_script("--help", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "train" in res.stdout and "Traceback" not in res.stderr


def test_os_error_line__disk_full_names_the_path() -> None:
    exc = OSError(errno.ENOSPC, "No space left on device", "runs/x/metrics.jsonl")
    assert cli.os_error_line(exc) == "No space left on device: runs/x/metrics.jsonl"


def test_os_error_line__rename_names_both_paths() -> None:
    exc = OSError(errno.EXDEV, "Invalid cross-device link", "a.tmp", None, "b")  # 4th: winerror
    assert cli.os_error_line(exc) == "Invalid cross-device link: a.tmp -> b"


def _main_with(command: object, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
               ) -> tuple[int, str]:
    """Run :func:`cli.main` with an app holding just ``command``; (exit code, stderr)."""
    fake = typer.Typer()
    fake.command()(command)
    fake.command("other")(lambda: None)  # two commands: the app is a group, as the real one
    monkeypatch.setattr(cli, "app", fake)
    monkeypatch.setattr(sys, "argv", ["sflaudit", command.__name__])
    with pytest.raises(SystemExit) as stop:
        cli.main()
    return int(stop.value.code), capsys.readouterr().err


def test_main__disk_full_is_one_line(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    def write() -> None:
        raise OSError(errno.ENOSPC, "No space left on device", "runs/x/metrics.jsonl")

    code, err = _main_with(write, monkeypatch, capsys)
    assert (code, err) == (2, "error: No space left on device: runs/x/metrics.jsonl\n")


def test_main__ctrl_c_exits_130(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    def train() -> None:
        raise KeyboardInterrupt

    code, err = _main_with(train, monkeypatch, capsys)
    assert code == 130 and err.startswith("interrupted: ")
