"""Errors the `shopnet` command reports to its user.

Library code raises these; only the CLI turns them into a one-line message and
an exit code. The hierarchy:

    ShopnetError                 anything we can explain in one line
    ├── ConfigError              a bad option, environment variable or topology
    ├── PreflightError           the machine is not ready (binary, port, root, subnet)
    ├── StateError               leftovers of a crashed run, or no stack to act on
    └── DriverError              a step of bringing a stack up or down failed
        └── ReadinessTimeout     a service did not become ready in time
"""


class ShopnetError(Exception):
    """Base class: the message is one actionable line for the user."""

    exit_code = 1


class ConfigError(ShopnetError):
    exit_code = 2


class PreflightError(ShopnetError):
    exit_code = 3


class StateError(ShopnetError):
    exit_code = 4


class DriverError(ShopnetError):
    exit_code = 5


class ReadinessTimeout(DriverError):
    pass
