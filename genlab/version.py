"""genlab's version, in a module of its own.

checkpoint.py stamps it into every file it writes; reading it from here rather than
from genlab/__init__.py keeps the package's front door (which imports the
registry, hence checkpoint.py) out of an import circle.
"""
__version__ = "0.1.0"
