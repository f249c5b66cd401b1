"""``python -m voicelens``."""

from voicelens.cli import main

main()
