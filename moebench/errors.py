"""Errors a user can cause. The CLI prints them as one line and exits 1; no traceback."""


class UserError(ValueError):
    """Bad input from a user: a file, a flag, a submission. The message says what to do."""
