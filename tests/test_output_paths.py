"""Output paths are checked before any work, written atomically, and locked against a second run."""

import hashlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision
from PIL import Image

from clirun import CLI, assert_clear_failure, run_cli, unshare_prefix
from neuronlabel.captioner import Captioner, CaptionerConfig
from neuronlabel.errors import OutputPathError, RunLockedError
from neuronlabel.files import atomic_write_many, check_writable_file, lock_path, run_lock


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    root = tmp_path_factory.mktemp("inputs")
    rng = np.random.default_rng(0)
    (root / "photos").mkdir()
    for i in range(6):
        Image.fromarray(rng.integers(0, 255, (40, 48, 3), dtype=np.uint8)).save(root / "photos" / f"{i}.png")
    config = CaptionerConfig(embedding_size=8, hidden_size=16, attention_hidden_size=16, max_length=4)
    Captioner(config, vocab=["red", "dog", "faces", "stripes"]).save(root / "cap.pt")
    torch.manual_seed(0)
    torch.save(torchvision.models.resnet18().state_dict(), root / "r18.pt")
    return root


def label_args(inputs, out, *extra):
    return ["label", "torchvision:resnet18", "--weights", inputs / "r18.pt", "--layers", "layer4", "--images",
            inputs / "photos", "-k", "2", "--captioner", inputs / "cap.pt", "--out", out, *extra]


def test_out_that_is_a_file_fails_before_any_work(tmp_path, inputs):
    taken = tmp_path / "report"
    taken.write_text("not a folder")
    assert_clear_failure(run_cli(*label_args(inputs, taken)), "is a file, not a folder")
    assert_clear_failure(run_cli("demo", "--out", taken), "is a file, not a folder")
    assert taken.read_text() == "not a folder"


def test_checkpoint_that_is_a_folder_fails_before_any_work(tmp_path, inputs):
    r = run_cli(*label_args(inputs, tmp_path / "out", "--checkpoint", tmp_path))
    assert_clear_failure(r, "is a folder; pass a file path such as")


def test_unwritable_out_folder_fails_before_any_work(tmp_path, inputs):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    prefix = []
    if os.geteuid() == 0:
        prefix = ["unshare", "--user"]
        if subprocess.run([*prefix, "true"]).returncode != 0:
            pytest.skip("running as root and cannot drop the file-permission override (unshare --user)")
    try:
        assert_clear_failure(run_cli(*label_args(inputs, locked), prefix=prefix), "is not writable: permission denied")
        assert_clear_failure(run_cli(*label_args(inputs, locked / "sub"), prefix=prefix), "cannot create the folder")
    finally:
        locked.chmod(0o755)


def test_read_only_file_system_fails_before_any_work(tmp_path, inputs):
    ro = tmp_path / "ro"
    ro.mkdir()
    prefix = unshare_prefix(ro, "ro")
    if prefix is None:
        pytest.skip("no unprivileged mount namespaces here (unshare --mount --map-root-user)")
    assert_clear_failure(run_cli(*label_args(inputs, ro / "out"), prefix=prefix), "the file system is read-only")
    r = run_cli(*label_args(inputs, tmp_path / "out", "--checkpoint", ro / "run.ckpt"), prefix=prefix)
    assert_clear_failure(r, "--checkpoint")
    assert "read-only" in r.err
    assert not (tmp_path / "out" / "report.json").exists()


def test_full_disk_fails_before_any_work(tmp_path, inputs):
    full = tmp_path / "full"
    full.mkdir()
    prefix = unshare_prefix(full, "size=8k")
    if prefix is None:
        pytest.skip("no unprivileged mount namespaces here (unshare --mount --map-root-user)")
    fill = ["sh", "-c", 'mount -t tmpfs -o size=8k none "$0" && (head -c 1000000 /dev/zero > "$0/fill" 2>/dev/null; exec "$@")',
            str(full)]
    r = run_cli(*label_args(inputs, full / "out"), prefix=["unshare", "--mount", "--map-root-user", *fill])
    assert_clear_failure(r, "no space left on the device")


def test_disk_full_while_writing_keeps_the_earlier_report_and_leaves_no_partial_file(tmp_path, inputs):
    disk = tmp_path / "disk"
    disk.mkdir()
    if unshare_prefix(disk, "size=64k") is None:
        pytest.skip("no unprivileged mount namespaces here (unshare --mount --map-root-user)")
    old = tmp_path / "old"
    old.mkdir()
    for name in ("report.json", "report.html", "labels.csv"):
        (old / name).write_text(f"the earlier good {name}\n")
    script = ('mount -t tmpfs -o size=64k none "$0" && mkdir "$0/out" && cp "$1"/* "$0/out/" && shift && '
              '"$@"; rc=$?; ls -A "$0/out"; sha256sum "$0"/out/*; exit $rc')
    r = run_cli(*label_args(inputs, disk / "out", "--quiet"),
                prefix=["unshare", "--mount", "--map-root-user", "sh", "-c", script, str(disk), str(old)])
    lines = [line for line in r.err.splitlines() if line.strip()]
    assert r.rc == 2 and "Traceback" not in r.err and len(lines) == 1, r.err[-3000:]
    assert "no space left on the device (the earlier file is unchanged)" in lines[0]
    listing = r.out.split()
    assert sorted(n for n in listing if not n.startswith("/") and len(n) != 64) == \
        ["labels.csv", "report.html", "report.json"], r.out
    for name in ("report.json", "report.html", "labels.csv"):
        digest = hashlib.sha256((old / name).read_bytes()).hexdigest()
        assert f"{digest}  {disk}/out/{name}" in r.out


def test_atomic_write_many_replaces_all_or_none(tmp_path):
    (tmp_path / "a").write_text("old a")
    (tmp_path / "b").mkdir()
    with pytest.raises(OutputPathError, match="is a folder"):
        atomic_write_many({tmp_path / "a": "new a", tmp_path / "b": "new b"})
    assert (tmp_path / "a").read_text() == "old a"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b"]
    atomic_write_many({tmp_path / "a": "new a", tmp_path / "c": b"c"})
    assert (tmp_path / "a").read_text() == "new a" and (tmp_path / "c").read_bytes() == b"c"
    assert oct((tmp_path / "c").stat().st_mode & 0o777) == oct(0o666 & ~_umask())


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


HOLDER = textwrap.dedent("""
    import sys, time
    from neuronlabel.files import run_lock
    with run_lock(sys.argv[1], "--checkpoint"):
        print("locked", flush=True)
        time.sleep(120)
""")


def test_lock_names_the_holder_and_a_killed_holder_leaves_no_stale_lock(tmp_path):
    ckpt = tmp_path / "run.ckpt"
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(ckpt)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(RunLockedError, match=rf"--checkpoint .* is in use by another neuronlabel run \(pid "
                                                 rf"{holder.pid} on .*: -c .*run.ckpt\); wait for it"):
            with run_lock(ckpt, "--checkpoint"):
                pass
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert lock_path(ckpt).exists()
    with run_lock(ckpt, "--checkpoint"):
        assert json.loads(lock_path(ckpt).read_text())["pid"] == os.getpid()
    assert not lock_path(ckpt).exists()


HELD_RUN = textwrap.dedent("""
    import os, sys, time
    from neuronlabel.captioner import Captioner
    from neuronlabel.cli import main
    release, argv = sys.argv[1], sys.argv[2:]
    describe = Captioner.describe
    def held(self, x, **kw):
        print("describing", flush=True)
        deadline = time.time() + 300
        while not os.path.exists(release) and time.time() < deadline:
            time.sleep(0.05)
        return describe(self, x, **kw)
    Captioner.describe = held
    sys.exit(main(argv))
""")


def test_concurrent_runs_sharing_a_checkpoint_or_out_folder_are_refused_and_corrupt_nothing(tmp_path, inputs):
    ckpt, out, release = tmp_path / "shared.ckpt", tmp_path / "first", tmp_path / "release"
    args = [str(a) for a in label_args(inputs, out, "--checkpoint", ckpt, "--quiet")]
    first = subprocess.Popen([sys.executable, "-c", HELD_RUN, str(release), *args], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    try:
        assert first.stdout.readline().strip() == "describing", first.stderr.read()
        second = run_cli(*label_args(inputs, tmp_path / "second", "--checkpoint", ckpt))
        assert_clear_failure(second, f"--checkpoint '{ckpt}' is in use by another neuronlabel run (pid {first.pid}")
        third = run_cli(*label_args(inputs, out, "--checkpoint", tmp_path / "other.ckpt"))
        assert_clear_failure(third, f"--out '{out}' is in use by another neuronlabel run (pid {first.pid}")
        release.touch()
        _, err = first.communicate(timeout=600)
    finally:
        release.touch()
        if first.poll() is None:
            first.kill()
    assert first.returncode == 0, err
    assert not (tmp_path / "other.ckpt").exists() and not (tmp_path / "second" / "report.json").exists()
    assert not list(tmp_path.rglob("*.lock")) and not list(tmp_path.rglob(".*.tmp"))
    resumed = run_cli(*label_args(inputs, tmp_path / "again", "--checkpoint", ckpt))
    assert resumed.rc == 0, resumed.err
    assert "caption: 100%" in resumed.err and "0/512" not in resumed.err
    fresh = run_cli(*label_args(inputs, tmp_path / "fresh", "--quiet"))
    assert fresh.rc == 0, fresh.err
    assert _units(out) == _units(tmp_path / "again") == _units(tmp_path / "fresh")


def _units(folder):
    return json.loads((folder / "report.json").read_text())["units"]


def test_check_writable_file_creates_folders_and_refuses_a_file_in_the_way(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputPathError, match="is a file"):
        check_writable_file(tmp_path / "file" / "run.ckpt", "--checkpoint")
    assert check_writable_file(tmp_path / "a" / "b" / "run.ckpt").parent.is_dir()
    assert sorted(p.name for p in (tmp_path / "a" / "b").iterdir()) == []
