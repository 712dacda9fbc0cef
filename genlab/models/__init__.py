"""Every family registers itself on import: one line per family."""
from genlab.models import dcgan  # noqa: F401
