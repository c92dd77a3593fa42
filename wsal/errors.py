"""The one exception type for expected user errors (bad files, bad options).

The CLI prints such an error as a single line and exits with code 2; anything else is a bug and
keeps its traceback. Messages name the file (and video, key, ...) and the problem.
"""


class WsalError(Exception):
    """An expected, user-facing error: the message is printed as one line."""
