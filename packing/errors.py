"""The one exception type for bad packing input (instance files, problem numbers)."""


class InstanceError(ValueError):
    """An instance file or instance request is missing or malformed.

    The message is one line that names the file (or class) and the problem or field,
    so the CLI can turn it into exit code 2 before any cluster work starts.
    """
