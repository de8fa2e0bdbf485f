"""Errors meant for the person at the terminal: the CLI prints their message, not a traceback."""


class UserFacingError(Exception):
    """Base of errors whose message alone tells the user what went wrong and what to do."""
