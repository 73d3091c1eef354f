"""Isolation for tests that start real ROS 2 nodes: a domain id and a namespace of
their own, so parallel test runs (and a robot on the same network) never cross-talk."""
import itertools
import os

_counter = itertools.count()


def unique_domain_id() -> int:
    """A ROS_DOMAIN_ID in 1..100 (Fast DDS's safe range) derived from this process."""
    return 1 + os.getpid() % 100


def unique_namespace(prefix: str = "t") -> str:
    """A namespace no other process or test uses: /<prefix><pid>_<n>."""
    return f"{prefix}{os.getpid()}_{next(_counter)}"
