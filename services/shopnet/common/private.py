"""Whether a secret file is private enough to trust."""

from __future__ import annotations

import os
import stat

from shopnet.errors import ConfigError


def check_private(path: str, info: os.stat_result) -> None:
    """ConfigError unless only the owner — or, read-only, the process's own group — may read
    `path`. The group case is Kubernetes' Secret volume: files root-owned, readable by the
    pod's fsGroup, which is the service user's own group (0440)."""
    own_group = info.st_gid == os.getegid() and not info.st_mode & (stat.S_IWGRP | stat.S_IXGRP)
    group = info.st_mode & stat.S_IRWXG
    if info.st_mode & stat.S_IRWXO or (group and not own_group):
        raise ConfigError(f"{path} is readable by others; chmod 600 it")
