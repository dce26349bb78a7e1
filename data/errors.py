"""The one exception type for bad input data (files, columns, values)."""


class DataError(ValueError):
    """A data file or data value is missing or malformed.

    The message is one line that names the file or field and what was expected;
    the CLI turns it into exit code 2.
    """
