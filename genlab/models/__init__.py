"""Every family registers itself on import: one line per family."""
from genlab.models import dcgan  # noqa: F401
from genlab.models import gan  # noqa: F401
from genlab.models import infogan  # noqa: F401
from genlab.models import vae  # noqa: F401
from genlab.models import aae  # noqa: F401
from genlab.models import nade  # noqa: F401
from genlab.models import pixelcnn  # noqa: F401
from genlab.models import pixelrnn  # noqa: F401
from genlab.models import ddpm  # noqa: F401
from genlab.models import progan  # noqa: F401
from genlab.models import cyclegan  # noqa: F401
from genlab.models import stargan  # noqa: F401
from genlab.models import graf  # noqa: F401
from genlab.models import alias_free  # noqa: F401
