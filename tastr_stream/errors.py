"""The project's own error types.

Boundaries (config files, decoded frames, wire messages, datasets on disk) raise these
with the offending value in the message, so a daemon can count and log a failure once
with context instead of crashing, and a user reads one line that says what to fix.
"""


class TastrError(Exception):
    """Base of every error tastr-stream raises on purpose."""


class ConfigError(TastrError):
    """A configuration file is missing, unparsable or holds an invalid value."""


class WireError(TastrError):
    """A wire message is malformed, truncated, oversized or of an unknown type/version."""


class DatasetError(TastrError):
    """A dataset folder (synthetic world, Campus-4K, Market/Duke style) is missing or malformed."""


class StreamError(TastrError):
    """A video source cannot be opened or decoded."""


class ModelError(TastrError):
    """Model weights are missing, corrupt or do not fit the architecture."""


class SamplerError(TastrError):
    """A training sampler cannot fill a batch under its constraints."""


class StoreError(TastrError):
    """The durable store cannot be opened or written: corrupt or newer-schema database, unwritable
    folder, a second writer, or a write that names an unknown tracklet."""


class EvalError(TastrError, ValueError):
    """Evaluation inputs are inconsistent (shapes, unknown ids, no valid query).

    Also a ``ValueError`` so generic numeric callers that catch ``ValueError`` keep working.
    """
