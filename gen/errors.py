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


class Interrupted(BaseException):
    """SIGTERM or SIGHUP, raised in the main thread so that every cleanup (finally, staged files)
    runs as for Ctrl-C. A BaseException like KeyboardInterrupt: code that turns a definition's
    failure into a UserError must let it through."""


def on_termination(signum, _frame) -> None:
    import signal

    raise Interrupted(signal.Signals(signum).name)


STOP_SIGNALS = (KeyboardInterrupt, Interrupted)
