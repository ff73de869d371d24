"""Errors a user sees. Each names the file, line, key or value at fault."""


class MtforgeError(Exception):
    """Base class of every error mtforge raises on bad input or a failed step."""


class InputNotFoundError(MtforgeError, FileNotFoundError):
    """A corpus path or URI does not exist."""


class CorpusFormatError(MtforgeError, ValueError):
    """A corpus is malformed (mismatched line counts, bad manifest, bad record)."""


class MissingDirectionsError(CorpusFormatError):
    """A source lacks requested directions (or their languages); ``directions`` lists them."""

    def __init__(self, message: str, directions: list[tuple[str, str]]) -> None:
        super().__init__(message)
        self.directions = directions


class UnknownLanguageError(MtforgeError, ValueError):
    """A language code cannot be normalised to FLORES-200 style."""


class ConfigError(MtforgeError, ValueError):
    """A configuration key or value is invalid."""


class StageFailedError(MtforgeError, RuntimeError):
    """A stage (or a pipeline task) failed; the message names it."""


class TrackingUnavailableError(MtforgeError, ConnectionError):
    """The MLflow tracking server cannot be reached; the message names its URI."""


class PipelineServiceError(MtforgeError, ConnectionError):
    """The Kubeflow Pipelines API cannot be reached, refused the credentials, or rejected a
    request; the message names the host and what the server said."""


class ObjectStoreUnavailableError(MtforgeError, ConnectionError):
    """The S3 endpoint cannot be reached; the message names the endpoint and the URI."""
