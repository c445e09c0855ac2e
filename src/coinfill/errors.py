"""Errors a user can act on. Each message says what is wrong and where."""


class CoinfillError(Exception):
    """Base of every error coinfill reports to a user instead of a traceback."""


class ConfigurationError(CoinfillError):
    """A setting (env var, .env file, Block) is missing or malformed."""


class InputError(CoinfillError):
    """A run was asked for something impossible: a bad window, an unknown symbol, ..."""


class DatabaseUnavailableError(CoinfillError):
    """The configured database cannot be reached or refused the connection."""


class BackfillFailedError(CoinfillError):
    """Some chunks of a backfill failed after their retries; the others were written."""


class CoverageMissedError(BackfillFailedError):
    """Coverage after a backfill is under its target (or a validity rule broke); data stays."""
