"""app.py's old name for the Explore tab: delete once app.py calls `explore.page(settings)`."""
from . import explore


def page(settings, _oops=None) -> None:
    explore.page(settings)
