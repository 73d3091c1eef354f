"""The one error type of a training run that cannot go on (no usable data, unwritable output,
no CUDA where it was asked for, ...). Its own module so that data, runtime and checkpoint
code can raise it without importing each other; train.main prints it as one line."""


class TrainingError(RuntimeError):
    """A run that cannot go on; the message says why."""
