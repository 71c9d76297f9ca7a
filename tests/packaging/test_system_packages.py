"""packaging/ensure-system-packages.sh, which `make test` and `make demo` run first."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "packaging" / "ensure-system-packages.sh"

pytestmark = pytest.mark.skipif(shutil.which("dpkg-query") is None, reason="not Debian/Ubuntu")


RunAsUser = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture(scope="module")
def run_as_user() -> Iterator[RunAsUser]:
    """Runs the script as an ordinary user (it installs only as root): as root, as `nobody` through
    setpriv. `nobody` may not enter the checkout (a clone in a 0700 folder), so the script and its list
    run from a copy in a folder everyone can read."""
    folder = Path(tempfile.mkdtemp(prefix="chairside-packaging-"))
    folder.chmod(0o755)
    script = folder / SCRIPT.name
    shutil.copy2(SCRIPT, script)
    shutil.copy2(SCRIPT.with_name("system-packages.txt"), folder / "system-packages.txt")
    script.chmod(0o755)
    (folder / "system-packages.txt").chmod(0o644)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        command = ["sh", str(script), *args]
        if os.geteuid() == 0:
            command = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *command]
        return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)

    yield run
    shutil.rmtree(folder)


def test_quiet_when_nothing_is_missing(run_as_user: RunAsUser) -> None:
    result = run_as_user()  # the real list: this machine has every package
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_prints_the_exact_command_for_what_is_missing(run_as_user: RunAsUser) -> None:
    with tempfile.TemporaryDirectory() as folder:
        Path(folder).chmod(0o755)  # readable by the ordinary user
        result = _run_on_list(run_as_user, Path(folder) / "packages.txt")
    assert result.returncode == 1
    assert "sudo apt-get install -y chairside-test-missing-a chairside-test-missing-b" in result.stderr
    assert "libxcb1" not in result.stderr


def _run_on_list(run_as_user: RunAsUser, listing: Path) -> subprocess.CompletedProcess[str]:
    listing.write_text(
        "# comment\nlibxcb1  # installed\nchairside-test-missing-a  # why\n\nchairside-test-missing-b\n",
        encoding="utf-8",
    )
    listing.chmod(0o644)
    return run_as_user(str(listing))


def test_an_unreadable_list_is_an_error(run_as_user: RunAsUser, tmp_path: Path) -> None:
    result = run_as_user(str(tmp_path / "nope.txt"))
    assert result.returncode == 2
    assert "cannot read" in result.stderr


def test_the_readme_apt_line_installs_every_listed_package() -> None:
    listed = {
        line.split("#")[0].strip()
        for line in (REPO / "packaging" / "system-packages.txt").read_text(encoding="utf-8").splitlines()
    } - {""}
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    [apt_line] = [line for line in readme.splitlines() if line.startswith("sudo apt-get install -y ")]
    assert listed <= set(apt_line.split()[4:])
