"""app.py's old name for the Explore tab: delete once app.py calls `explore.page` (lab/explore/)."""
from .explore import page  # noqa: F401
