"""Errors a user can cause. The CLI prints them as one line and exits 2."""


class UserError(Exception):
    """Bad input (settings, definitions, flags): reported as one line, exit code 2."""

    exit_code = 2

    def __init__(self, message: str):
        # One line, always: a multi-line message would break the promise of the CLI.
        super().__init__(" ".join(str(message).split()))

    @property
    def message(self) -> str:
        return str(self)


class RemoteRefused(UserError):
    """The remote side refused us (bad credentials, missing permission): one line, exit code 1,
    as for any other failed push; bad usage stays exit 2."""

    exit_code = 1
