"""How much memory this process may still take: the system's MemAvailable, every memory
cgroup limit that applies to it (v1 and v2, nested: its own group and each ancestor, as in a
container, a systemd slice or a batch job), and its address-space limit (`ulimit -v`).

Read from /proc and /sys only (no TensorFlow); every path can be redirected, so the tests
build fake cgroup trees in a temporary folder.
"""

from __future__ import annotations

import resource
from collections.abc import Iterator
from pathlib import Path

MB = 1024**2
# The memory model's fixed part (nst.run.preflight) and the address space a run maps for a
# resident peak of P bytes: VIRTUAL_BASE + VIRTUAL_FACTOR x P, fitted to VmPeak against the
# estimate (TF 2.21 CPU, VGG16, 256-1024 px, L-BFGS, style_scale 2 and 4: -5..+30 %;
# bench/results/memory.md). TensorFlow reserves much address space it never touches.
RUNTIME_BYTES = 600 * MB
VIRTUAL_BASE_BYTES = 900 * MB
VIRTUAL_FACTOR = 1.6
MIN_ADDRESS_SPACE_BYTES = VIRTUAL_BASE_BYTES + int(VIRTUAL_FACTOR * RUNTIME_BYTES)


def address_space_needed(resident_bytes: int) -> int:
    """The address space (VmPeak) of a run whose resident peak is `resident_bytes`."""
    return VIRTUAL_BASE_BYTES + int(VIRTUAL_FACTOR * resident_bytes)


NO_LIMIT = 2**60  # cgroup v1 writes ~2**63 for "no limit"; v2 writes "max"
V2_FILES = ("memory.max", "memory.current", "inactive_file")
V1_FILES = ("memory.limit_in_bytes", "memory.usage_in_bytes", "total_inactive_file")


def mem_available(proc: Path = Path("/proc")) -> int | None:
    """MemAvailable of /proc/meminfo in bytes; None where it cannot be read (not Linux)."""
    try:
        for line in (proc / "meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def cgroup_available(proc_self: Path = Path("/proc/self"), root: Path = Path("/")) -> int | None:
    """The least room (limit - usage, less reclaimable page cache) over the memory cgroups
    this process is in and all their ancestors; None when no limit applies or none is seen."""
    rooms = [
        room
        for folder, top, files in _memory_cgroup_folders(proc_self, root)
        for room in _rooms_up(folder, top, files)
    ]
    return min(rooms) if rooms else None


def _memory_cgroup_folders(proc_self: Path, root: Path) -> Iterator[tuple[Path, Path, tuple]]:
    """(the process's own cgroup folder, its hierarchy's mount point, the file names) for
    cgroup v2 and for v1's memory controller."""
    try:
        lines = (proc_self / "cgroup").read_text().splitlines()
    except OSError:
        return
    mounts = _cgroup_mounts(proc_self, root)
    for line in lines:
        ident, _, rest = line.partition(":")
        controllers, _, path = rest.partition(":")
        if ident == "0" and controllers == "":
            kind, files = "cgroup2", V2_FILES
        elif "memory" in controllers.split(","):
            kind, files = "memory", V1_FILES
        else:
            continue
        for mount_point, mount_root in mounts.get(kind, []):
            folder = _folder_of(Path(mount_point), mount_root, path)
            if folder is not None:
                yield folder, Path(mount_point), files


def _cgroup_mounts(proc_self: Path, root: Path) -> dict[str, list[tuple[Path, str]]]:
    """Where cgroup2 and v1's memory hierarchy are mounted (under `root`), with the path of
    each mount's own root inside the hierarchy; the usual places when mountinfo is absent."""
    found: dict[str, list[tuple[Path, str]]] = {}
    try:
        lines = (proc_self / "mountinfo").read_text().splitlines()
    except OSError:
        lines = []
    for line in lines:
        fields = line.split()
        if "-" not in fields:
            continue
        dash = fields.index("-")
        fstype, options = fields[dash + 1], fields[dash + 3] if len(fields) > dash + 3 else ""
        point = root / _unescape(fields[4]).lstrip("/")
        if fstype == "cgroup2":
            found.setdefault("cgroup2", []).append((point, _unescape(fields[3])))
        elif fstype == "cgroup" and "memory" in options.split(","):
            found.setdefault("memory", []).append((point, _unescape(fields[3])))
    if not lines:
        found = {
            "cgroup2": [(root / "sys/fs/cgroup", "/")],
            "memory": [(root / "sys/fs/cgroup/memory", "/")],
        }
    return found


def _unescape(text: str) -> str:
    """mountinfo writes spaces, tabs, newlines and backslashes as octal escapes."""
    for code, char in (("\\040", " "), ("\\011", "\t"), ("\\012", "\n"), ("\\134", "\\")):
        text = text.replace(code, char)
    return text


def _folder_of(mount_point: Path, mount_root: str, path: str) -> Path | None:
    """The folder of cgroup `path` under a mount of the hierarchy from `mount_root`. Inside a
    container the path may name groups outside the mount: then its longest tail that exists
    is taken (the container's own group is the mount's root)."""
    if mount_root != "/" and (path == mount_root or path.startswith(mount_root + "/")):
        path = path[len(mount_root) :]
    parts = [part for part in path.split("/") if part]
    for start in range(len(parts) + 1):
        folder = mount_point.joinpath(*parts[start:])
        if folder.is_dir():
            return folder
    return None


def _rooms_up(folder: Path, top: Path, files: tuple[str, str, str]) -> Iterator[int]:
    """limit - (usage - reclaimable cache) of `folder` and of each ancestor up to `top`, the
    mount point, that has a limit (a v2 group without the memory controller has none)."""
    limit_name, usage_name, inactive_key = files
    while True:
        limit = _read_number(folder / limit_name)
        if limit is not None and limit < NO_LIMIT:
            usage = _read_number(folder / usage_name) or 0
            usage -= min(usage, _stat_value(folder / "memory.stat", inactive_key))
            yield max(0, limit - usage)
        if folder == top or folder == folder.parent:
            return
        folder = folder.parent


def _read_number(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())  # "max" (v2: no limit) is not a number
    except (OSError, ValueError):
        return None


def _stat_value(path: Path, key: str) -> int:
    """One value of a memory.stat file (0 if absent): page cache the kernel can reclaim."""
    try:
        for line in path.read_text().splitlines():
            name, _, value = line.partition(" ")
            if name == key:
                return int(value)
    except (OSError, ValueError):
        pass
    return 0


def address_space_limit() -> int | None:
    """The address-space limit of this process (`ulimit -v`, RLIMIT_AS), in bytes; None
    without one. It caps mapped memory, which for TensorFlow is far more than resident."""
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    return None if soft == resource.RLIM_INFINITY else soft


def address_space_room(proc_self: Path = Path("/proc/self")) -> int | None:
    """Bytes of address space left under RLIMIT_AS (`ulimit -v`), the soft limit less what
    the process maps now (VmSize); None without such a limit."""
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft == resource.RLIM_INFINITY:
        return None
    mapped = 0
    try:
        for line in (proc_self / "status").read_text().splitlines():
            if line.startswith("VmSize:"):
                mapped = int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return max(0, soft - mapped)
