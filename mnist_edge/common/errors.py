"""One exception type for mistakes a user can fix.

Library code raises :class:`UserError` with a message written for a person ("no such file: x.npz");
the CLI prints it as one line on stderr and exits non-zero, instead of a traceback.
"""


class UserError(Exception):
    """A problem with the user's input (path, file contents, option), not a bug in mnist-edge."""
