"""The loaders the benchmark compares, one module each; ``child.py`` runs one per process."""
