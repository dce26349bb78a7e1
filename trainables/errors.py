"""The one exception type for bad configuration values."""


class ConfigError(ValueError):
    """A configuration key or value is invalid.

    The message is one line naming the field and what was expected; the CLI turns
    it into exit code 2 before any cluster work starts.
    """
