"""The conversation's flows; importing this package registers their steps and actions.

Flows depend on `common` and on the understanding layer; `requests` (the policy over what a
message says) depends on the others; none imports another in a circle
(tests/unit/test_layers.py checks it)."""

from dialogs.flows import (  # noqa: F401
    account,
    booking,
    common,
    devices,
    info,
    password_reset,
    pay,
    privacy,
    profile,
    recap,
    requests,
    settings,
    statement,
)
