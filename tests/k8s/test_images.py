"""The pods run as the users the images were built with, by number.

Kubernetes can only check `runAsNonRoot` against a numeric uid, and initdb refuses a
uid that /etc/passwd does not know, so shopnet_k8s.workloads names each image's user
by number. Here the images docker mode builds say which users they really have.
"""

from __future__ import annotations

import re

import pytest

from shopnet_docker.engine import Docker
from shopnet_docker.images import BuildReport
from shopnet_docker.names import OFFLINE
from shopnet_k8s.workloads import APP_USER, POSTGRES_USER, REDIS_USER, ImageUser

pytestmark = pytest.mark.docker


@pytest.mark.parametrize(
    ("image", "user"),
    [(OFFLINE.service, APP_USER), (OFFLINE.postgres, POSTGRES_USER), (OFFLINE.redis, REDIS_USER)],
)
def test_pods_run_as_the_image_user(
    docker: Docker, images: BuildReport, image: str, user: ImageUser
) -> None:
    (line,) = docker.lines(
        "run", "--rm", "--network", "none", "--entrypoint", "id", image, what=f"id in {image}"
    )
    found = re.match(r"uid=(\d+)\(\S+\) gid=(\d+)\(", line)
    assert found, line
    assert ImageUser(int(found[1]), int(found[2])) == user, line
