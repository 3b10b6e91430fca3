"""The one exception bad input raises, so callers (UI, CLI) can show a single clear message."""


class DatasetError(ValueError):
    """A data file is missing or malformed. The message names the file, column, rows and what was expected."""
