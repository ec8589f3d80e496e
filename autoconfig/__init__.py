"""autoconfig: one settings file in, every mail client configured."""

# Read by the build too (pyproject.toml's [tool.hatch.version]): one place, and no importlib.metadata at
# every start (50 ms of a worker's start-up, for a string).
__version__ = "0.1.0"
