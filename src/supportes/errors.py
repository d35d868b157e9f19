"""Errors that end a command with a one-line message instead of a stack trace."""


class ConfigError(Exception):
    """Configuration is wrong or a required tool or service is unusable.

    The message names the setting (environment variable) or tool to fix.
    """


class StackError(ConfigError):
    """The local Kafka/PostgreSQL stack could not be brought to the wanted state."""


class DatabaseUnavailableError(ConfigError):
    """PostgreSQL did not accept a connection (down, restarting, unreachable). At start-up a
    configuration error; for a running service a transient outage to ride out."""


class UsageError(Exception):
    """The command line asked for something that does not exist (exit code 2)."""
