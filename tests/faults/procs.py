"""Finding and killing the processes a fault test aims at, by pid only."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path


def _stat(pid: int) -> tuple[str, int, str] | None:
    """(name, parent pid, state) of `pid`, None once it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    name = raw[raw.index("(") + 1:raw.rindex(")")]
    fields = raw[raw.rindex(")") + 2:].split()
    return name, int(fields[1]), fields[0]


def descendants(root: int) -> dict[int, str]:
    """Every living process below `root` (children, grandchildren, ...): pid -> name."""
    parents: dict[int, tuple[int, str]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            found = _stat(int(entry))
            if found is not None and found[2] != "Z":
                parents[int(entry)] = (found[1], found[0])
    below: dict[int, str] = {}
    frontier = [root]
    while frontier:
        parent = frontier.pop()
        for pid, (ppid, name) in parents.items():
            if ppid == parent and pid not in below:
                below[pid] = name
                frontier.append(pid)
    return below


def named_below(root: int, name: str) -> list[int]:
    """The pids below `root` whose command name is `name` (e.g. soffice.bin)."""
    return sorted(pid for pid, n in descendants(root).items() if n == name)


def age(pid: int) -> float:
    """Seconds since `pid` started (0 if it is gone)."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
        uptime = float(Path("/proc/uptime").read_text().split()[0])
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    started_ticks = int(raw[raw.rindex(")") + 2:].split()[19])
    return uptime - started_ticks / os.sysconf("SC_CLK_TCK")


def is_gone(pid: int, within: float = 10.0) -> bool:
    """Whether `pid` exited (a zombie counts) within `within` seconds."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        found = _stat(pid)
        if found is None or found[2] == "Z":
            return True
        time.sleep(0.02)
    return False


def kill(pid: int, sig: signal.Signals = signal.SIGKILL) -> bool:
    """Send `sig` to `pid`; False if it was gone already."""
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return False
    return True


def processes_mentioning(text: str) -> list[str]:
    """Command lines of living processes that contain `text` (e.g. a temporary folder)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
        if text in cmdline and (_stat(int(entry)) or ("", 0, "Z"))[2] != "Z":
            found.append(cmdline)
    return found


def children(parent: int) -> list[int]:
    """The living direct children of `parent`."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            stat = _stat(int(entry))
            if stat is not None and stat[1] == parent and stat[2] != "Z":
                found.append(int(entry))
    return sorted(found)


def _socket_inodes(server_port: int, client_port: int) -> set[str]:
    """Inodes of the server-side TCP sockets of the connection from `client_port` (IPv4)."""
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local_port = int(fields[1].split(":")[1], 16)
        remote_port = int(fields[2].split(":")[1], 16)
        if local_port == server_port and remote_port == client_port:
            inodes.add(fields[9])
    return inodes


def serving(pids: list[int], server_port: int, client_port: int) -> int | None:
    """Which of `pids` holds the accepted connection that the client's `client_port` made."""
    inodes = {f"socket:[{inode}]" for inode in _socket_inodes(server_port, client_port)}
    if not inodes:
        return None
    for pid in pids:
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                try:
                    if os.readlink(f"/proc/{pid}/fd/{fd}") in inodes:
                        return pid
                except OSError:
                    continue
        except OSError:
            continue
    return None
