"""``python -m sflaudit`` runs the CLI."""

from sflaudit.cli import main

main()
