"""Errors a user can cause and fix. The CLI prints them as one line and exits with code 2."""


class GenlabError(Exception):
    """A mistake in what the user asked for: bad name, file, option or input."""


class CheckpointError(GenlabError):
    """A file that is not a usable genlab checkpoint."""


class TrainingDiverged(GenlabError):
    """A loss became NaN or infinite; training stopped before saving anything."""
