"""autoconfig: one settings file in, every mail client configured."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("autoconfig")
except PackageNotFoundError:  # a checkout used without installing it
    __version__ = "0+unknown"
