"""The memory limit that applies to this process, read from fake cgroup trees (v1, v2,
nested, containers) built in temporary folders, and from a real `ulimit -v`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from nst.run.memlimits import address_space_room, cgroup_available
from tests.helpers import ROOT

MB = 1024**2
V1_UNLIMITED = "9223372036854771712"
V2_MOUNT = "30 23 0:26 {root} /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw"
V1_MOUNT = "35 31 0:32 {root} /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory"
CPU_MOUNT = "32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu"


def fake_system(tmp: Path, cgroup: str, mounts: list[str], groups: dict) -> tuple[Path, Path]:
    """A fake /proc/self (its cgroup and mountinfo files) and a root holding `groups`:
    {folder under the root: {file name: text}}."""
    proc_self = tmp / "proc" / "self"
    proc_self.mkdir(parents=True)
    (proc_self / "cgroup").write_text(cgroup)
    (proc_self / "mountinfo").write_text("\n".join(mounts) + "\n")
    root = tmp / "root"
    for folder, files in groups.items():
        (root / folder).mkdir(parents=True, exist_ok=True)
        for name, text in files.items():
            (root / folder / name).write_text(text)
    return proc_self, root


def v2(limit: str, current: int, inactive: int = 0) -> dict:
    return {
        "memory.max": limit,
        "memory.current": str(current),
        "memory.stat": f"anon {current}\ninactive_file {inactive}\n",
    }


def v1(limit: str, usage: int, inactive: int = 0) -> dict:
    return {
        "memory.limit_in_bytes": limit,
        "memory.usage_in_bytes": str(usage),
        "memory.stat": f"cache 0\ntotal_inactive_file {inactive}\n",
    }


def test_v2_limit_of_an_ancestor_applies_to_a_nested_group(tmp_path):
    proc, root = fake_system(
        tmp_path,
        "0::/batch.slice/job42.scope/worker\n",
        [V2_MOUNT.format(root="/")],
        {
            "sys/fs/cgroup": {"cgroup.controllers": "memory"},  # the root: no memory.max
            "sys/fs/cgroup/batch.slice": v2("max", 5000 * MB),
            "sys/fs/cgroup/batch.slice/job42.scope": v2(str(1024 * MB), 300 * MB, 100 * MB),
            "sys/fs/cgroup/batch.slice/job42.scope/worker": v2("max", 250 * MB),
        },
    )
    # the job's 1024 MB less its usage, less the page cache the kernel can reclaim
    assert cgroup_available(proc, root) == (1024 - 300 + 100) * MB


def test_the_tightest_of_several_nested_limits_wins(tmp_path):
    proc, root = fake_system(
        tmp_path,
        "0::/a/b\n",
        [V2_MOUNT.format(root="/")],
        {
            "sys/fs/cgroup/a": v2(str(900 * MB), 800 * MB),
            "sys/fs/cgroup/a/b": v2(str(2000 * MB), 100 * MB),
        },
    )
    assert cgroup_available(proc, root) == 100 * MB


def test_v1_nested_memory_group(tmp_path):
    proc, root = fake_system(
        tmp_path,
        "9:name=systemd:/\n8:pids:/\n4:memory:/process_api/f5bd\n1:cpu:/\n0::/\n",
        [CPU_MOUNT, V1_MOUNT.format(root="/")],
        {
            "sys/fs/cgroup/memory": v1(V1_UNLIMITED, 9000 * MB),
            "sys/fs/cgroup/memory/process_api": v1(str(2048 * MB), 1500 * MB, 20 * MB),
            "sys/fs/cgroup/memory/process_api/f5bd": v1(V1_UNLIMITED, 700 * MB),
        },
    )
    assert cgroup_available(proc, root) == (2048 - 1500 + 20) * MB


def test_container_sees_its_own_group_at_the_mount_root(tmp_path):
    # no cgroup namespace: /proc/self/cgroup names the group on the host; mountinfo says the
    # mount's root is that group
    proc, root = fake_system(
        tmp_path,
        "0::/docker/abc123\n",
        [V2_MOUNT.format(root="/docker/abc123")],
        {"sys/fs/cgroup": v2(str(512 * MB), 112 * MB)},
    )
    assert cgroup_available(proc, root) == 400 * MB


def test_group_path_outside_the_mount_falls_back_to_its_existing_tail(tmp_path):
    proc, root = fake_system(
        tmp_path,
        "0::/kubepods/pod1/ctr/sub\n",
        [V2_MOUNT.format(root="/")],
        {
            "sys/fs/cgroup": v2(str(3000 * MB), 1000 * MB),
            "sys/fs/cgroup/sub": v2(str(600 * MB), 100 * MB),
        },
    )
    assert cgroup_available(proc, root) == 500 * MB


def test_both_hierarchies_count(tmp_path):
    proc, root = fake_system(
        tmp_path,
        "4:memory:/g\n0::/h\n",
        [V1_MOUNT.format(root="/"), V2_MOUNT.format(root="/").replace("/sys/fs/cgroup", "/u")],
        {"sys/fs/cgroup/memory/g": v1(str(800 * MB), 0), "u/h": v2(str(700 * MB), 0)},
    )
    assert cgroup_available(proc, root) == 700 * MB


def test_no_limit_anywhere_is_none(tmp_path):
    proc, root = fake_system(
        tmp_path,
        "4:memory:/g\n0::/h\n",
        [V1_MOUNT.format(root="/"), V2_MOUNT.format(root="/")],
        {"sys/fs/cgroup/memory/g": v1(V1_UNLIMITED, 10), "sys/fs/cgroup/h": v2("max", 10)},
    )
    assert cgroup_available(proc, root) is None


def test_without_cgroup_files_the_check_is_skipped(tmp_path):
    assert cgroup_available(tmp_path / "no-proc", tmp_path) is None


def test_mountinfo_absent_uses_the_usual_places(tmp_path):
    proc, root = fake_system(
        tmp_path, "0::/x\n", [], {"sys/fs/cgroup/x": v2(str(100 * MB), 40 * MB)}
    )
    (proc / "mountinfo").unlink()
    assert cgroup_available(proc, root) == 60 * MB


def test_address_space_limit_is_read_in_a_limited_process():
    code = (
        "import resource; resource.setrlimit(resource.RLIMIT_AS, (3 * 1024**3, 3 * 1024**3));"
        "from nst.run.memlimits import address_space_room, address_space_limit;"
        "print(address_space_room()); assert address_space_limit() == 3 * 1024**3"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    room = int(done.stdout)
    assert 1 * 1024**3 < room < 3 * 1024**3  # the limit less what Python already maps
    assert address_space_room() is None or address_space_room() > room  # pytest: unlimited


# --- the estimate and the check that use these limits (nst.run.preflight) -----------------------

import pytest  # noqa: E402

from nst.run import preflight  # noqa: E402
from nst.run.preflight import ResourceError, check_memory, memory_needed  # noqa: E402
from nst.settings import load_settings  # noqa: E402


def test_a_larger_style_image_raises_the_estimate():
    model = load_settings(None, ("model.network=vgg16",)).model
    alone = memory_needed(model, 512, 384)
    same = memory_needed(model, 512, 384, style_sizes=((512, 384),))
    bigger = memory_needed(model, 512, 384, style_sizes=((2048, 1536),))
    assert same == alone  # the step's activations dominate a same-size style pass
    assert bigger - alone > 3 * (alone - memory_needed(model, 1, 1))


def test_memory_refusal_counts_the_style_image_and_its_advice_fits():
    model = load_settings(None, ("model.network=vgg16",)).model
    styles = ((2048, 1536),)  # style_scale = 4 at 512 px
    available = memory_needed(model, 512, 384) + 100 * MB  # enough without the style
    with pytest.raises(ResourceError, match=r"max_size to (\d+) or less") as caught:
        check_memory(model, 512, 384, 512, available, "adam", styles)
    size = int(caught.value.args[0].split("max_size to ")[1].split()[0])
    scale = size / 512
    shrunk = ((round(2048 * scale), round(1536 * scale)),)
    assert memory_needed(model, size, round(384 * scale), "adam", shrunk) <= available


def test_address_space_limit_below_the_mapped_size_is_refused():
    model = load_settings(None).model
    needed = memory_needed(model, 64, 48)
    check_memory(model, 64, 48, 64, None, address_space=needed + 4000 * MB)  # fits
    with pytest.raises(ResourceError, match=r"address-space limit \(ulimit -v\)"):
        check_memory(model, 64, 48, 64, None, address_space=needed + 100 * MB)


def test_available_memory_is_the_least_of_the_system_and_the_cgroups(monkeypatch):
    monkeypatch.setattr(preflight, "mem_available", lambda: 8000 * MB)
    monkeypatch.setattr(preflight, "cgroup_available", lambda: 3000 * MB)
    assert preflight.available_memory() == 3000 * MB
    monkeypatch.setattr(preflight, "cgroup_available", lambda: None)
    assert preflight.available_memory() == 8000 * MB
    monkeypatch.setattr(preflight, "mem_available", lambda: None)
    assert preflight.available_memory() is None
