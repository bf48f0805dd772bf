"""The storage layer's errors."""

from nas.errors import UserError


class StorageError(UserError, RuntimeError):
    """A database operation failed or the schema does not match this code."""


class DatabaseUnreachableError(StorageError):
    """A database server refused the connection, did not answer, or rejected the login."""
