"""``python -m mnist_edge`` runs the CLI."""

from mnist_edge.cli import main

main()
