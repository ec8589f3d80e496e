"""`python -m autoconfig` is the `autoconfig` command."""

from .cli import main

main()
